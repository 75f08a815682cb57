"""Detect people with an mmdet detector over a PoseTrack image folder and write the detection file that
top-down PoseTrack datasets read through ``bbox_file``.

Each entry is ``{image_id, bbox: [x, y, w, h], score, category_id: 1}`` (MMPose's detection format), with
``image_id`` looked up by file name in ``--ann-file`` (COCO-style, e.g. ``posetrack18_val.json``; only its
images are processed). Without ``--ann-file`` every image under IMG_DIR is processed and entries carry
``image_name`` (the path relative to ``--data-root``, e.g. ``images/val/<video>/000000.jpg``) instead.

Example::

    python tools/misc/generate_person_boxes.py \\
        mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py data/posetrack18/images/val \\
        --checkpoint faster_rcnn_r50_fpn_1x_coco.pth \\
        --ann-file data/posetrack18/annotations/posetrack18_val.json \\
        --out data/posetrack18/annotations/posetrack18_val_human_detections.json --score-thr 0.2
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import Config, DictAction
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmengine.utils import ProgressBar

from diffpose_mm.datasets.posetrack_format import frame_key, read_json, write_json

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('det_config', help='mmdet config file (or mmdet::path inside mmdet)')
    parser.add_argument('img_dir', help='PoseTrack image folder, searched recursively')
    parser.add_argument('--out', required=True, help='output detection json file')
    parser.add_argument('--checkpoint', help='detector checkpoint (random weights without it)')
    parser.add_argument('--ann-file', help='COCO-style annotation file: write image_id entries and '
                        'only detect on its images')
    parser.add_argument(
        '--data-root', help='root that image_name is relative to (without '
        '--ann-file); default: the folder above "images" in IMG_DIR, else IMG_DIR')
    parser.add_argument('--score-thr', type=float, default=0.3, help='keep boxes scoring at least this')
    parser.add_argument('--det-cat-id', type=int, default=0,
                        help='label of "person" in the detector (0 for COCO detectors)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override detector config settings, key=value')
    return parser.parse_args(argv)


def list_images(img_dir: str) -> List[str]:
    """Sorted image paths under ``img_dir``."""
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'image folder {img_dir} does not exist')
    paths = sorted(
        osp.join(root, name) for root, _, names in os.walk(img_dir) for name in names
        if name.lower().endswith(IMG_EXTENSIONS))
    if not paths:
        raise FileNotFoundError(f'no {"/".join(IMG_EXTENSIONS)} images under {img_dir}')
    return paths


def default_data_root(img_dir: str) -> str:
    """``data/posetrack18/images/val`` -> ``data/posetrack18``: names then read ``images/val/...``."""
    parts = osp.abspath(img_dir).split(os.sep)
    if 'images' in parts:
        return os.sep.join(parts[:len(parts) - parts[::-1].index('images') - 1]) or os.sep
    return img_dir


def detect_people(model, img_path: str, det_cat_id: int, score_thr: float) -> List[dict]:
    """Person boxes of one image as ``{bbox: [x, y, w, h], score, category_id: 1}``."""
    from mmdet.apis import inference_detector
    pred = inference_detector(model, img_path).pred_instances.cpu().numpy()
    keep = (pred.labels == det_cat_id) & (pred.scores >= score_thr)
    boxes = []
    for (x1, y1, x2, y2), score in zip(pred.bboxes[keep], pred.scores[keep]):
        boxes.append(
            dict(bbox=[round(float(v), 2) for v in (x1, y1, x2 - x1, y2 - y1)], score=round(float(score), 5),
                 category_id=1))
    return boxes


def generate_person_boxes(args: argparse.Namespace) -> List[dict]:
    """Run the detector and return the detection entries (see the module docstring)."""
    from mmdet.apis import init_detector
    paths = list_images(args.img_dir)
    if args.ann_file:
        images = read_json(args.ann_file).get('images', [])
        key2id = {frame_key(img['file_name']): img['id'] for img in images}
        paths = [p for p in paths if frame_key(p) in key2id]
        if not paths:
            raise ValueError(f'no image under {args.img_dir} is listed in {args.ann_file} (matched by '
                             '<split>/<video>/<frame> file names)')
        print(f'{len(paths)} of the {len(images)} images of {args.ann_file} are in {args.img_dir}')
    else:
        data_root = args.data_root or default_data_root(args.img_dir)

    # 'mmdet::x.py' names a config inside the installed mmdet; Config.fromfile only takes plain paths
    config = get_config(args.det_config) if '::' in args.det_config else Config.fromfile(args.det_config)
    results = []
    # mmdet sets its own default scope; keep the caller's (e.g. mmpose) afterwards
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = init_detector(config, args.checkpoint, device=args.device, cfg_options=args.cfg_options)
        progress = ProgressBar(len(paths))
        for path in paths:
            for box in detect_people(model, path, args.det_cat_id, args.score_thr):
                if args.ann_file:
                    results.append(dict(image_id=key2id[frame_key(path)], **box))
                else:
                    name = osp.relpath(path, data_root).replace(os.sep, '/')
                    results.append(dict(image_name=name, **box))
            progress.update()
    return results


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        results = generate_person_boxes(args)
    except (OSError, ValueError) as e:
        print(f'generate_person_boxes.py: error: {e}', file=sys.stderr)
        return 1
    write_json(results, args.out)
    num_images = len({r.get('image_id', r.get('image_name')) for r in results})
    print(f'\nwrote {len(results)} person boxes (score >= {args.score_thr}) on {num_images} images '
          f'to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
