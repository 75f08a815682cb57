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
PoseTrack18: ``1`` + 6-digit video number (leading digits of the video folder) + 4-digit 0-based
frame index. The person box is the keypoints' extent enlarged 1.3x (as poseval's converter) joined
with the head box, clipped to the image when its size is known.

Example::

    python tools/dataset_converters/posetrack17_to_coco.py data/posetrack17/annotations_official/val \
        --out data/posetrack17/annotations --split val --img-root data/posetrack17
"""
import argparse
import json
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence

from diffpose_mm.evaluation.functional.posetrack_io import POSETRACK18_KEYPOINTS, POSETRACK18_SKELETON

# PoseTrack18 slot -> PoseTrack17 (MPII) joint id; the ears (slots 3, 4) have no PoseTrack17 joint.
# PoseTrack17 ids: 0 r_ankle, 1 r_knee, 2 r_hip, 3 l_hip, 4 l_knee, 5 l_ankle, 6 r_wrist, 7 r_elbow,
# 8 r_shoulder, 9 l_shoulder, 10 l_elbow, 11 l_wrist, 12 head_bottom, 13 nose, 14 head_top.
PT18_FROM_PT17 = (13, 12, 14, None, None, 9, 8, 10, 7, 11, 6, 3, 2, 4, 1, 5, 0)
PT17_TO_PT18 = {pt17: slot for slot, pt17 in enumerate(PT18_FROM_PT17) if pt17 is not None}

CATEGORY = dict(
    supercategory='person', id=1, name='person', keypoints=list(POSETRACK18_KEYPOINTS),
    skeleton=POSETRACK18_SKELETON)


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
        return dict(images=[], annotations=[], categories=[CATEGORY])
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
        image_id = int(f'1{vid:06d}{index - 1:04d}')
        img = dict(file_name=name, id=image_id, frame_id=image_id, vid_id=f'{vid:06d}',
                   nframes=nframes, ignore_regions_x=[], ignore_regions_y=[])
        if img_root is not None and osp.isfile(osp.join(img_root, name)):
            img['width'], img['height'] = _image_size(osp.join(img_root, name))
        for region in entry.get('ignore_regions', []) or []:
            pts = region.get('point', []) or []
            img['ignore_regions_x'].append([_scalar(p['x'], src, 'ignore_regions.x') for p in pts])
            img['ignore_regions_y'].append([_scalar(p['y'], src, 'ignore_regions.y') for p in pts])
        has_points = False
        for k, rect in enumerate(entry.get('annorect', []) or []):
            where = f'annolist[{i}].annorect[{k}]'
            head = [float(_scalar(_require(rect, key, src, where), src, key))
                    for key in ('x1', 'y1', 'x2', 'y2')]
            keypoints = [0.0] * 51
            xs, ys = [], []
            for point in _points(rect.get('annopoints')):
                joint = int(_scalar(_require(point, 'id', src, f'{where} point'), src, 'id'))
                if joint not in PT17_TO_PT18:
                    raise ValueError(f'{src}: {where} has joint id {joint}; PoseTrack17 ids are '
                                     '0..14')
                x = float(_scalar(point['x'], src, 'x'))
                y = float(_scalar(point['y'], src, 'y'))
                vis = int(_scalar(point.get('is_visible', 1), src, 'is_visible'))
                slot = PT17_TO_PT18[joint]
                keypoints[3 * slot:3 * slot + 3] = [x, y, float(vis)]
                xs.append(x)
                ys.append(y)
            ann = dict(
                id=image_id * 100 + k, image_id=image_id, category_id=1, iscrowd=False,
                track_id=int(_scalar(rect.get('track_id', k), src, 'track_id')),
                bbox_head=[head[0], head[1], head[2] - head[0], head[3] - head[1]],
                keypoints=keypoints, num_keypoints=len(xs), scores=[])
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
    return dict(images=images, annotations=annotations, categories=[CATEGORY])


def convert_posetrack17(inputs: Sequence[str], out_dir: str, split: str,
                        img_root: Optional[str] = None) -> Dict[str, int]:
    """Convert PoseTrack17 video jsons (files, or directories of them) and write the outputs.

    Returns:
        dict: numbers of ``videos``, ``images`` and ``annotations`` written.
    """
    files = []
    for path in inputs:
        if osp.isdir(path):
            files += sorted(osp.join(path, f) for f in os.listdir(path) if f.endswith('.json'))
        else:
            files.append(path)
    if not files:
        raise FileNotFoundError(f'no PoseTrack17 json found in {list(inputs)}')
    merged = dict(images=[], annotations=[], categories=[CATEGORY])
    image_src: Dict[int, str] = {}
    os.makedirs(osp.join(out_dir, split), exist_ok=True)
    for path in files:
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}: not a valid json file ({e})') from e
        video = convert_video(data, path, img_root)
        for img in video['images']:
            if img['id'] in image_src:
                raise ValueError(f'image id {img["id"]} ({img["file_name"]}) from {path} clashes '
                                 f'with {image_src[img["id"]]}: two videos share a video number')
            image_src[img['id']] = path
        name = osp.splitext(osp.basename(path))[0]
        with open(osp.join(out_dir, split, f'{name}.json'), 'w') as f:
            json.dump(video, f)
        merged['images'] += video['images']
        merged['annotations'] += video['annotations']
    with open(osp.join(out_dir, f'posetrack17_{split}.json'), 'w') as f:
        json.dump(merged, f)
    return dict(videos=len(files), images=len(merged['images']),
                annotations=len(merged['annotations']))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('inputs', nargs='+', help='PoseTrack17 video jsons or folders of them')
    parser.add_argument('--out', required=True, help='output annotation folder')
    parser.add_argument('--split', required=True, help='split name, e.g. train or val')
    parser.add_argument('--img-root', default=None,
                        help='dataset root holding the images: fills width/height and counts '
                        'the frames of each video for nframes')
    args = parser.parse_args(argv)
    summary = convert_posetrack17(args.inputs, args.out, args.split, args.img_root)
    print(f'wrote {args.out}: ' + ', '.join(f'{k}={v}' for k, v in summary.items()))


if __name__ == '__main__':
    main()
