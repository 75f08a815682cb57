"""Convert the official PoseTrack17 annotations to the COCO-style PoseTrack18 layout.

PoseTrack17 ships one ``annolist`` json per video (``image[].name``, ``annorect[]`` with the head box
``x1, y1, x2, y2``, ``track_id`` and ``annopoints[].point[] {id, x, y, is_visible}`` in the 15-joint
MPII order, ``ignore_regions[].point[] {x, y}``; values are often wrapped in 1-element lists).
This writes::

    OUT/posetrack17_<split>.json   merged COCO-style file, read by PoseTrackVideoDataset
    OUT/<split>/<video>.json       one PoseTrack18-style GT file per input video (for PoseTrack AP)

The 17-slot PoseTrack18 keypoint order is used (ears unlabelled); ``is_visible`` is kept as the
visibility flag (1 if absent), unannotated joints are ``0, 0, 0``. Frame names are kept (8 digits,
counted from 1), so PoseTrackVideoDataset detects the PoseTrack17 naming on its own. Image ids follow
PoseTrack18 (``posetrack_format.posetrack_image_id``): ``1`` + 6-digit video number (leading digits of
the video folder) + 4-digit 0-based frame index. The person box is the keypoints' extent enlarged 1.3x (as poseval's
converter) joined with the head box, clipped to the image when its size is known.

Example::

    python tools/dataset_converters/posetrack17_to_coco.py data/posetrack17/annotations_official/val \
        --out data/posetrack17/annotations --split val --img-root data/posetrack17
"""
import argparse
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence

from diffpose_mm.datasets.posetrack_format import (NUM_KEYPOINTS, NUM_POSETRACK_JOINTS, PERSON_CATEGORY, PT17_TO_PT18,
                                                   list_json_files, merge_posetrack_videos, posetrack_image_id,
                                                   read_json, write_json)


def _scalar(value, src: str, field: str):
    """PoseTrack17 wraps most values in 1-element lists."""
    if isinstance(value, list):
        if len(value) != 1:
            raise ValueError(f'{src}: field "{field}" should hold one value, got {value!r}')
        return value[0]
    return value


def _require(entry: dict, key: str, src: str, where: str):
    if key not in entry:
        raise ValueError(f'{src}: {where} has no field "{key}"')
    return entry[key]


def _points(annopoints) -> List[dict]:
    if not annopoints:
        return []
    if isinstance(annopoints, list):
        annopoints = annopoints[0]
    return annopoints.get('point', []) or []


def _image_size(path: str):
    from PIL import Image  # header only, no decoding
    with Image.open(path) as img:
        return img.size


def _count_frames(frame_dir: str, digits: int, ext: str) -> Optional[int]:
    if not osp.isdir(frame_dir):
        return None
    return sum(1 for f in os.listdir(frame_dir)
               if f.endswith(ext) and len(f) == digits + len(ext) and f[:digits].isdigit())


def convert_video(data: dict, src: str, img_root: Optional[str] = None) -> dict:
    """Convert one PoseTrack17 video json into a PoseTrack18-style ``{images, annotations,
    categories}`` dict. ``src`` names the input in error messages."""
    annolist = _require(data, 'annolist', src, 'the file') if isinstance(data, dict) else None
    if not isinstance(annolist, list):
        raise ValueError(f'{src}: field "annolist" should be a list of frames')
    frames = []
    for i, entry in enumerate(annolist):
        image = _scalar(_require(entry, 'image', src, f'annolist[{i}]'), src, 'image')
        name = _require(image, 'name', src, f'annolist[{i}].image').replace('\\/', '/')
        stem, ext = osp.splitext(osp.basename(name))
        video_dir = osp.basename(osp.dirname(name))
        match = re.match(r'\d+', video_dir)
        if not stem.isdigit() or match is None:
            raise ValueError(f'{src}: annolist[{i}] image name {name!r} is not '
                             '<digits>_<name>/<frame digits>.<ext>')
        frames.append((i, entry, name, int(stem), len(stem), ext, int(match.group())))
    if not frames:
        return dict(images=[], annotations=[], categories=[PERSON_CATEGORY])
    _, _, name0, _, digits, ext, vid = frames[0]
    nframes = None
    if img_root is not None:
        nframes = _count_frames(osp.join(img_root, osp.dirname(name0)), digits, ext)
    if not nframes:
        nframes = max(len(annolist), max(f[3] for f in frames))

    images, annotations = [], []
    for i, entry, name, index, _, _, _ in frames:
        if not 1 <= index <= 10000:
            raise ValueError(f'{src}: frame index {index} of {name!r} is outside 1..10000')
        try:
            image_id = posetrack_image_id(vid, index - 1)
        except ValueError as e:
            raise ValueError(f'{src}: {name!r}: {e}') from e
        img = dict(file_name=name, id=image_id, frame_id=image_id, vid_id=f'{vid:06d}', nframes=nframes,
                   ignore_regions_x=[], ignore_regions_y=[])
        if img_root is not None and osp.isfile(osp.join(img_root, name)):
            img['width'], img['height'] = _image_size(osp.join(img_root, name))
        for region in entry.get('ignore_regions', []) or []:
            pts = region.get('point', []) or []
            img['ignore_regions_x'].append([_scalar(p['x'], src, 'ignore_regions.x') for p in pts])
            img['ignore_regions_y'].append([_scalar(p['y'], src, 'ignore_regions.y') for p in pts])
        has_points = False
        for k, rect in enumerate(entry.get('annorect', []) or []):
            where = f'annolist[{i}].annorect[{k}]'
            head = [float(_scalar(_require(rect, key, src, where), src, key)) for key in ('x1', 'y1', 'x2', 'y2')]
            keypoints = [0.0] * (3 * NUM_KEYPOINTS)
            xs, ys = [], []
            for point in _points(rect.get('annopoints')):
                joint = int(_scalar(_require(point, 'id', src, f'{where} point'), src, 'id'))
                if not 0 <= joint < NUM_POSETRACK_JOINTS:
                    raise ValueError(f'{src}: {where} has joint id {joint}; PoseTrack17 ids are '
                                     f'0..{NUM_POSETRACK_JOINTS - 1}')
                x = float(_scalar(point['x'], src, 'x'))
                y = float(_scalar(point['y'], src, 'y'))
                vis = int(_scalar(point.get('is_visible', 1), src, 'is_visible'))
                slot = PT17_TO_PT18[joint]
                keypoints[3 * slot:3 * slot + 3] = [x, y, float(vis)]
                xs.append(x)
                ys.append(y)
            ann = dict(id=image_id * 100 + k, image_id=image_id, category_id=1, iscrowd=False,
                       track_id=int(_scalar(rect.get('track_id', k), src, 'track_id')),
                       bbox_head=[head[0], head[1], head[2] - head[0],
                                  head[3] - head[1]], keypoints=keypoints, num_keypoints=len(xs), scores=[])
            if xs:
                has_points = True
                cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
                hw, hh = 0.65 * (max(xs) - min(xs)), 0.65 * (max(ys) - min(ys))
                x1, y1 = min(cx - hw, head[0]), min(cy - hh, head[1])
                x2, y2 = max(cx + hw, head[2]), max(cy + hh, head[3])
                if 'width' in img:
                    x1, x2 = (min(max(v, 0.0), img['width'] - 1.0) for v in (x1, x2))
                    y1, y2 = (min(max(v, 0.0), img['height'] - 1.0) for v in (y1, y2))
                ann['bbox'] = [x1, y1, x2 - x1, y2 - y1]
                ann['area'] = (x2 - x1) * (y2 - y1)
            annotations.append(ann)
        labelled = entry.get('is_labeled')
        img['is_labeled'] = bool(_scalar(labelled, src, 'is_labeled')) if labelled is not None \
            else has_points
        images.append(img)
    return dict(images=images, annotations=annotations, categories=[PERSON_CATEGORY])


def convert_posetrack17(inputs: Sequence[str], out_dir: str, split: str,
                        img_root: Optional[str] = None) -> Dict[str, int]:
    """Convert PoseTrack17 video jsons (files, or directories of them) and write the outputs.

    Returns:
        dict: numbers of ``videos``, ``images`` and ``annotations`` written.
    """
    files = []
    for path in inputs:
        if osp.isdir(path):
            files += [osp.join(path, name) for name in list_json_files(path)]
        else:
            files.append(path)
    if not files:
        raise FileNotFoundError(f'no PoseTrack17 json found in {list(inputs)}')
    os.makedirs(osp.join(out_dir, split), exist_ok=True)

    def converted_videos():
        for path in files:
            video = convert_video(read_json(path), path, img_root)
            name = osp.splitext(osp.basename(path))[0]
            write_json(video, osp.join(out_dir, split, f'{name}.json'))
            yield path, video

    merged = merge_posetrack_videos(converted_videos())
    write_json(merged, osp.join(out_dir, f'posetrack17_{split}.json'))
    return dict(videos=len(files), images=len(merged['images']), annotations=len(merged['annotations']))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('inputs', nargs='+', help='PoseTrack17 video jsons or folders of them')
    parser.add_argument('--out', required=True, help='output annotation folder')
    parser.add_argument('--split', required=True, help='split name, e.g. train or val')
    parser.add_argument(
        '--img-root', default=None, help='dataset root holding the images: fills width/height and counts '
        'the frames of each video for nframes')
    args = parser.parse_args(argv)
    summary = convert_posetrack17(args.inputs, args.out, args.split, args.img_root)
    print(f'wrote {args.out}: ' + ', '.join(f'{k}={v}' for k, v in summary.items()))


if __name__ == '__main__':
    main()
