"""Make the per-joint 2D Gaussian mixtures of DiffPose-3D's pose-specific prior for a Human3.6M-layout dataset.

The DiffPose-3D authors publish their mixture files for Human3.6M but not the code that made them; this tool
makes them from what a user has, frame-aligned with MMPose's annotation file (``annotation_body3d/fps50/*.npz``),
in the format of :mod:`diffpose_mm.datasets.keypoint_gmm`:

``heatmaps``: run an MMPose top-down heatmap model (config + checkpoint) on every frame's image and box (the
annotation's ``center``/``scale``), fit ``M`` kernels to each joint's heatmap (weighted EM), map them to image
pixels, and optionally to Human3.6M joints from a COCO model (``--joint-map coco``). Also writes the model's
decoded keypoints as the 2D detection file the lifter reads (``--det-out``), so the two agree.

``keypoints``: when only keypoints exist (a 2D detection ``.npy`` (N, K, 3), or the annotation's ``part`` with
``--from-gt``): a mixture of the detection, its left/right swap and a broad kernel, weighted by the score, with a
per-joint scale from ``--spread-file`` (N, K) (e.g. the ``keypoint_spread`` of the video DiffPose) or a constant
``--sigma``.

Examples::

    python tools/misc/fit_pose_gmm.py keypoints --data-root data/h36m --sigma 5 \\
        --ann-file annotation_body3d/fps50/h36m_test.npz --det-file joint_2d_det_files/cpn_ft_h36m_dbb_test.npy \\
        --out joint_2d_det_files/cpn_ft_h36m_dbb_test_gmm.npz
    python tools/misc/fit_pose_gmm.py heatmaps --data-root data/h36m --ann-file annotation_body3d/fps50/h36m_test.npz \\
        --config td-hm_hrnet-w32_8xb64-210e_coco-256x192.py --checkpoint hrnet_w32_coco.pth --joint-map coco \\
        --img-prefix images/ --det-out joint_2d_det_files/hrnet_test.npy --out joint_2d_det_files/hrnet_test_gmm.npz
"""
import argparse
import os.path as osp
import sys
import time
from typing import List, Optional

import numpy as np

from diffpose_mm.datasets.keypoint_gmm import (COCO_TO_H36M, fit_heatmap_gmm, gmm_from_keypoints, map_gmm_joints,
                                               save_keypoint_gmm)

JOINT_MAPS = dict(none=None, coco=COCO_TO_H36M)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='mode', required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--data-root', default='', help='paths below are relative to it')
    common.add_argument('--ann-file', required=True, help='MMPose Human3.6M annotation .npz (imgname, part, ...)')
    common.add_argument('--out', required=True, help='the keypoint GMM file to write (.npz)')
    common.add_argument('--num-kernels', type=int, default=5, help='M kernels per joint (paper: 5)')
    common.add_argument('--metainfo', default='configs/_base_/datasets/h36m.py',
                        help="the dataset's MMPose metainfo file (joint count, flip indices, name)")
    kp = sub.add_parser('keypoints', parents=[common], help='mixtures from keypoints, scores and a scale')
    src = kp.add_mutually_exclusive_group(required=True)
    src.add_argument('--det-file', help='2D detections (N, K, 3): x, y, score (keypoint_2d_det_file)')
    src.add_argument('--from-gt', action='store_true', help="the annotation's `part` (keypoint_2d_src='gt')")
    scale = kp.add_mutually_exclusive_group(required=True)
    scale.add_argument('--spread-file', help='per-joint scale (N, K) in pixels, e.g. keypoint_spread')
    scale.add_argument('--sigma', type=float, help='constant per-joint scale in pixels')
    kp.add_argument('--swap-prob', type=float, default=0.1, help='weight share of the left/right swap kernel')
    kp.add_argument('--broad-factor', type=float, default=4.0, help='scale of the occlusion kernel / scale')
    hm = sub.add_parser('heatmaps', parents=[common], help='EM fit to the heatmaps of an MMPose top-down model')
    hm.add_argument('--config', required=True, help='MMPose top-down heatmap model config')
    hm.add_argument('--checkpoint', help='its checkpoint (random weights without: for smoke tests only)')
    hm.add_argument('--img-prefix', default='images/', help="image folder (the dataset's data_prefix['img'])")
    hm.add_argument('--joint-map', choices=sorted(JOINT_MAPS), default='none',
                    help="map the model's joints to the dataset's (coco: COCO -> Human3.6M)")
    hm.add_argument('--det-out', help="also write the model's keypoints as a 2D detection file (N, K, 3)")
    hm.add_argument('--max-frames', type=int, help='only the first frames (smoke tests)')
    hm.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def _path(root: str, path: Optional[str]) -> Optional[str]:
    return path if path is None or osp.isabs(path) else osp.join(root, path)


def _metainfo(path: str) -> dict:
    """MMPose metainfo of a dataset config (``configs/_base_/datasets/*.py`` is found inside MMPose too)."""
    import mmpose
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    shipped = osp.join(osp.dirname(mmpose.__file__), '.mim', path)
    return parse_pose_metainfo(dict(from_file=path if osp.isfile(path) or not osp.isfile(shipped) else shipped))


def _load_array(path: str, what: str, shape_hint: str) -> np.ndarray:
    if not osp.isfile(path):
        raise FileNotFoundError(f'fit_pose_gmm: {what} {path} does not exist')
    return np.load(path)


def keypoint_inputs(args: argparse.Namespace, ann: dict, num_keypoints: int):
    """``(keypoints (N, K, 2), scores (N, K), scale)`` of the ``keypoints`` mode, checked against the annotation
    file (errors name the file and the field)."""
    ann_file, N = _path(args.data_root, args.ann_file), len(ann['imgname'])
    if args.from_gt:
        kpts = ann['part']
        source, field = ann_file, '`part`'
    else:
        source, field = _path(args.data_root, args.det_file), 'detections'
        kpts = _load_array(source, 'detection file (--det-file)', '(N, K, 3)')
    if kpts.ndim != 3 or kpts.shape[1:] != (num_keypoints, 3):
        raise ValueError(f'fit_pose_gmm: {source} ({field}): expected (frames, {num_keypoints}, 3), got {kpts.shape}')
    if kpts.shape[0] != N:
        raise ValueError(f'fit_pose_gmm: {source} ({field}) has {kpts.shape[0]} frames but the annotation file '
                         f'{ann_file} has {N} (field `imgname`); they must be frame-aligned')
    if args.spread_file:
        spread_file = _path(args.data_root, args.spread_file)
        scale = _load_array(spread_file, 'spread file (--spread-file)', '(N, K)')
        if scale.shape != (N, num_keypoints):
            raise ValueError(f'fit_pose_gmm: spread file {spread_file}: expected ({N}, {num_keypoints}), got '
                             f'{scale.shape}')
    else:
        scale = args.sigma
    return kpts[..., :2].astype(np.float32), kpts[..., 2].astype(np.float32), scale


def fit_keypoints(args: argparse.Namespace, ann: dict, meta: dict) -> dict:
    kpts, scores, scale = keypoint_inputs(args, ann, meta['num_keypoints'])
    gmm = gmm_from_keypoints(kpts, scores, scale, meta['flip_indices'], args.num_kernels, args.swap_prob,
                             args.broad_factor)
    what = 'gt part' if args.from_gt else osp.basename(args.det_file)
    how = f'spread {osp.basename(args.spread_file)}' if args.spread_file else f'sigma {args.sigma} px'
    return dict(gmm=gmm, keypoints=kpts, source=f'keypoints: {what}, {how}')


def fit_heatmaps(args: argparse.Namespace, ann: dict, meta: dict) -> dict:
    """Run the heatmap model on every frame's box and fit the mixtures (image pixels)."""
    import torch
    from mmpose.apis import inference_topdown, init_model

    from diffpose_mm.engine.checkpoint import mmengine_checkpoint_globals
    if args.checkpoint:
        with mmengine_checkpoint_globals(args.checkpoint):
            model = init_model(args.config, args.checkpoint, device=args.device)
    else:
        model = init_model(args.config, None, device=args.device)
    model.test_cfg['output_heatmaps'] = True
    codec = model.cfg.codec
    input_size = np.array(codec['input_size'], np.float32)  # (w, h)
    hm_size = np.array(codec['heatmap_size'], np.float32)
    # heatmap pixel -> input pixel, as the codec decodes (UDP: corners aligned)
    per_px = input_size / (hm_size - 1) if 'UDP' in codec['type'] else input_size / hm_size
    joint_map = JOINT_MAPS[args.joint_map]
    n_model = model.head.out_channels if hasattr(model.head, 'out_channels') else None
    K = meta['num_keypoints']
    if joint_map is None and n_model is not None and n_model != K:
        raise ValueError(f'fit_pose_gmm: the model {args.config} predicts {n_model} joints, the dataset has {K}; '
                         'pass --joint-map (e.g. coco)')
    N = len(ann['imgname']) if args.max_frames is None else min(args.max_frames, len(ann['imgname']))
    gmms, kpts, scores = [], [], []
    for i in range(N):
        img = _path(args.data_root, osp.join(args.img_prefix, str(ann['imgname'][i])))
        half = float(ann['scale'][i]) * 100  # box side / 2 (Human3.6M scale = side / 200)
        cx, cy = ann['center'][i]
        with torch.no_grad():
            sample = inference_topdown(model, img, bboxes=np.array([[cx - half, cy - half, cx + half, cy + half]]))[0]
        heatmaps = sample.pred_fields.heatmaps.cpu().numpy() if hasattr(sample.pred_fields.heatmaps, 'cpu') else \
            np.asarray(sample.pred_fields.heatmaps)
        g = fit_heatmap_gmm(heatmaps, args.num_kernels)
        # heatmap pixel -> input pixel -> image pixel, as TopdownPoseEstimator maps decoded keypoints
        center, scale = (np.asarray(sample.metainfo[k], np.float32).reshape(2) for k in ('input_center', 'input_scale'))
        to_img = per_px / input_size * scale
        g[..., 1:3] = g[..., 1:3] * to_img + center - 0.5 * scale
        g[..., 3:5] = g[..., 3:5] * to_img
        kp, sc = sample.pred_instances.keypoints[0], sample.pred_instances.keypoint_scores[0]
        if joint_map is not None:
            g = map_gmm_joints(g, joint_map, args.num_kernels)
            kp = joint_map @ kp
            sc = (joint_map > 0).astype(np.float32) @ sc / (joint_map > 0).sum(1)
        gmms.append(g)
        kpts.append(kp)
        scores.append(sc)
    kpts, scores = np.asarray(kpts, np.float32), np.asarray(scores, np.float32)
    if args.det_out:
        np.save(_path(args.data_root, args.det_out), np.concatenate([kpts, scores[..., None]], -1))
    return dict(
        gmm=np.asarray(gmms, np.float32), keypoints=kpts, n=N,
        source=f'heatmaps: {osp.basename(args.config)}, joint map {args.joint_map}')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    start = time.time()
    meta = _metainfo(args.metainfo)
    ann_file = _path(args.data_root, args.ann_file)
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'fit_pose_gmm: annotation file {ann_file} does not exist')
    ann = dict(np.load(ann_file))
    if 'imgname' not in ann:
        raise ValueError(f'fit_pose_gmm: annotation file {ann_file} has no field `imgname`')
    result = fit_keypoints(args, ann, meta) if args.mode == 'keypoints' else fit_heatmaps(args, ann, meta)
    n = result.get('n', len(ann['imgname']))
    out = _path(args.data_root, args.out)
    save_keypoint_gmm(out, imgname=ann['imgname'][:n], gmm=result['gmm'], keypoints=result['keypoints'],
                      dataset_name=meta['dataset_name'], source=result['source'])
    print(f'wrote {out} ({n} frames, {meta["num_keypoints"]} joints, {args.num_kernels} kernels; {result["source"]}) '
          f'in {time.time() - start:.1f}s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
