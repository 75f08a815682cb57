"""Merge official per-video PoseTrack18 / PoseTrack21 jsons into one COCO-style file.

PoseTrackVideoDataset reads such a directory directly (``ann_file='annotations/val'``); a merged file
is what MMPose's ``CocoMetric(ann_file=...)`` and MMPose-style configs expect. Every file is checked
(``images``/``annotations``, required fields, 17x3 keypoints) and image ids must be unique; extra
fields (e.g. PoseTrack21's ``person_id``) are kept.

Example::

    python tools/dataset_converters/merge_posetrack_videos.py data/posetrack21/posetrack_data/val \
        --out data/posetrack21/annotations/posetrack21_val.json
"""
import argparse
import os.path as osp

from diffpose_mm.datasets.posetrack_format import load_posetrack_annotations, write_json


def merge_posetrack_videos(ann_dir: str, out_file: str) -> dict:
    """Write the merged ``{images, annotations, categories}`` of ``ann_dir`` to ``out_file``.

    Returns:
        dict: numbers of merged ``images`` and ``annotations``.
    """
    if not osp.isdir(ann_dir):
        raise NotADirectoryError(f'{ann_dir} is not a directory of per-video jsons')
    merged = load_posetrack_annotations(ann_dir)
    write_json(merged, out_file)
    return dict(images=len(merged['images']), annotations=len(merged['annotations']))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('ann_dir', help='folder of per-video jsons')
    parser.add_argument('--out', required=True, help='merged json to write')
    args = parser.parse_args(argv)
    summary = merge_posetrack_videos(args.ann_dir, args.out)
    print(f'wrote {args.out}: ' + ', '.join(f'{k}={v}' for k, v in summary.items()))


if __name__ == '__main__':
    main()
