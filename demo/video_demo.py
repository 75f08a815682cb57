"""Video pose estimation with a DiffPose video model: annotated mp4 and PoseTrack18 predictions per video.

Wraps :class:`diffpose_mm.apis.VideoPoseInferencer` (MMPose's inferencer base and visualiser). Each input is
one video: a video file, a folder of frames (e.g. a PoseTrack ``images/val/<video>`` folder) or several frame
files listed after ``--frames``. Person boxes come from an mmdet detector or from a PoseTrack detection file.

Examples::

    # synthetic val video, boxes from the dataset's detection file
    python demo/video_demo.py configs/diffpose/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py \\
        work_dirs/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96/epoch_18.pth \\
        --inputs data/synthetic_posetrack18/images/val/200001_synth_val \\
        --bbox-file data/synthetic_posetrack18/annotations/posetrack18_val_human_detections.json \\
        --output-root work_dirs/video_demo

    # a video file, boxes from an mmdet detector
    python demo/video_demo.py CONFIG CKPT --inputs my_video.mp4 \\
        --det-config mmdet::rtmdet/rtmdet_m_8xb32-300e_coco.py --det-checkpoint rtmdet_m.pth \\
        --output-root work_dirs/video_demo

Writes ``OUTPUT_ROOT/visualizations/<video>.mp4`` and ``OUTPUT_ROOT/predictions/<video>.json`` (read by
``tools/analysis/eval_posetrack.py GT_DIR OUTPUT_ROOT/predictions``).
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

import mmcv
from mmengine.config import Config, DictAction

from diffpose_mm.apis import VideoPoseInferencer


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='DiffPose video model config')
    parser.add_argument('checkpoint', nargs='?', help='its checkpoint (random weights without it)')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--inputs', nargs='+', help='videos: video files or frame folders, one video each')
    source.add_argument('--frames', nargs='+', help='the frame files of one video, in order')
    boxes = parser.add_mutually_exclusive_group(required=True)
    boxes.add_argument('--det-config', help='mmdet config file or mmdet::<path in mmdet/configs>')
    boxes.add_argument('--bbox-file', help='PoseTrack detection file (tools/misc/generate_person_boxes.py)')
    parser.add_argument('--det-checkpoint', help='detector checkpoint')
    parser.add_argument('--det-cat-id', type=int, default=0, help='label of "person" (0 for COCO detectors)')
    parser.add_argument('--output-root', default='work_dirs/video_demo', help='output folder')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--bbox-thr', type=float, default=None,
                        help="keep boxes scoring at least this (default: the config's bbox_score_thr, else 0.3)")
    parser.add_argument('--nms-thr', type=float, default=0.3, help='IoU of the box NMS on detector boxes')
    parser.add_argument('--pose-nms-thr', type=float, default=0.9, help='OKS of the pose NMS (as the metric)')
    parser.add_argument('--tracking-thr', type=float, default=0.3, help='IoU to continue a track')
    parser.add_argument('--kpt-thr', type=float, default=0.3, help='draw keypoints scoring at least this')
    parser.add_argument('--fps', type=float, default=None, help='frame rate of the mp4 of frame folders (25)')
    parser.add_argument('--radius', type=int, default=3, help='keypoint radius')
    parser.add_argument('--thickness', type=int, default=1, help='link thickness')
    parser.add_argument('--draw-bbox', action='store_true', help='draw the person boxes')
    parser.add_argument('--no-uncertainty', action='store_true',
                        help="draw MMPose's plain skeletons (no spread rings, score fading or legend)")
    parser.add_argument('--save-frame', nargs=2, metavar=('INDEX', 'PNG'),
                        help='also write the annotated frame INDEX of the (first) video to PNG')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.test_cfg.num_noise_groups=1')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        if not osp.isfile(args.config):
            raise FileNotFoundError(f'config {args.config} does not exist')
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        inferencer = VideoPoseInferencer(cfg, args.checkpoint, device=args.device, det_model=args.det_config,
                                         det_weights=args.det_checkpoint, det_cat_ids=args.det_cat_id,
                                         bbox_file=args.bbox_file, tracking_thr=args.tracking_thr, fps=args.fps,
                                         show_progress=not args.no_progress)
        save_frame = (int(args.save_frame[0]), args.save_frame[1]) if args.save_frame else None
        for n, video in enumerate([args.frames] if args.frames else args.inputs):
            results = inferencer(video, out_dir=args.output_root, bbox_thr=args.bbox_thr, nms_thr=args.nms_thr,
                                 pose_nms_thr=args.pose_nms_thr, kpt_thr=args.kpt_thr, radius=args.radius,
                                 thickness=args.thickness, draw_bbox=args.draw_bbox,
                                 show_uncertainty=not args.no_uncertainty, return_vis=save_frame is not None and n == 0)
            for k, result in enumerate(results):
                if save_frame is not None and n == 0 and k == save_frame[0]:
                    os.makedirs(osp.dirname(osp.abspath(save_frame[1])), exist_ok=True)
                    mmcv.imwrite(mmcv.rgb2bgr(result['visualization'][0]), save_frame[1])
            print(f'{inferencer.frames.name}: {len(inferencer.frames)} frames -> '
                  f'{osp.join(args.output_root, "visualizations", inferencer.frames.name + ".mp4")}, '
                  f'{inferencer.prediction_file}')
        if save_frame is not None:
            print(f'frame {save_frame[0]} -> {save_frame[1]}')
    except (OSError, ValueError) as e:  # the messages name the file, field or option
        print(f'video_demo.py: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
