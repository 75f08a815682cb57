"""Draw one test sample of a DiffPose-3D lifter: its 2D input with the per-joint spread of the hypotheses, the
mean prediction and the ground truth (MMPose's ``Pose3dLocalVisualizer``), and all hypotheses overlaid.

The spread circles have radius ``keypoint_spread`` (the root-mean-square distance of the N hypotheses from their
mean, metres) projected at the person's depth; wide circles mark joints whose 3D position the model is unsure of.

Example (the README picture, from the 3D demo's run)::

    python tools/analysis/vis_lifting.py configs/diffpose3d/diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m.py \\
        work_dirs/diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m/epoch_8.pth --out docs/images/diffpose3d_example.png
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction

BACKGROUND = 255


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='a DiffPose-3D config (its test split is drawn)')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument('--out', default='docs/images/diffpose3d_example.png', help='the PNG to write')
    parser.add_argument(
        '--index', type=int, help='test sample to draw (default: the one with the largest mean '
        'spread among --candidates samples)')
    parser.add_argument('--candidates', type=int, default=256, help='samples searched when --index is not given')
    parser.add_argument('--num-hypotheses', type=int, default=10, help='N hypotheses (test_cfg.num_noise_groups)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={}, help='config overrides')
    return parser.parse_args(argv)


def load_model(cfg: Config, checkpoint: str, device: str = 'cpu'):
    """``mmpose.apis.init_model`` with the checkpoint allowlist (plus ``bytes``, see run_lifting_benchmark)."""
    import copy

    from mmpose.apis import init_model

    from diffpose_mm.engine.checkpoint import mmengine_checkpoint_globals
    with torch.serialization.safe_globals([bytes]), mmengine_checkpoint_globals(checkpoint):
        return init_model(copy.deepcopy(cfg), checkpoint, device=device)


def _matplotlib_compat() -> None:
    """MMPose 1.3.2's Pose3dLocalVisualizer reads ``FigureCanvasAgg.tostring_rgb``, which matplotlib 3.10 removed;
    give this process the equivalent (RGB bytes of the canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    if not hasattr(FigureCanvasAgg, 'tostring_rgb'):
        FigureCanvasAgg.tostring_rgb = lambda self: np.asarray(self.buffer_rgba())[..., :3].tobytes()


def upright(points: np.ndarray) -> np.ndarray:
    """Camera coordinates (x right, y down, z forward) -> a z-up frame for plotting (MMPose's 3D demo)."""
    out = points[..., [0, 2, 1]].copy()
    out[..., 0] *= -1
    out[..., 2] *= -1
    return out


def predict(model, dataset, indices: List[int], num_hypotheses: int) -> list:
    """Data samples of ``indices`` with predictions and ``keypoint_hypotheses`` (flip test off: the hypotheses
    are those of one pass)."""
    model.test_cfg.update(num_noise_groups=num_hypotheses, output_hypotheses=True, flip_test=False)
    out = []
    for start in range(0, len(indices), 64):
        batch = dict(inputs=[], data_samples=[])
        for i in indices[start:start + 64]:
            item = dataset[i]
            batch['inputs'].append(item['inputs'])
            batch['data_samples'].append(item['data_samples'])
        with torch.no_grad():
            out += model.test_step(batch)
    return out


def input_panel(info: dict, spread: np.ndarray, root_depth: float, size: int = 400) -> np.ndarray:
    """The 2D input (pixels) cropped around the person, with circles of the projected 3D spread per joint."""
    target = len(info['keypoints']) // 2 if not info.get('causal', False) else -1
    kpts = np.asarray(info['keypoints'])[target]
    focal = float(np.asarray(info['camera_param']['f']).reshape(-1)[0]) if 'camera_param' in info else 1000.
    lo, hi = kpts.min(0), kpts.max(0)
    center, side = (lo + hi) / 2, (hi - lo).max() * 1.4 + 1
    scale = size / side
    canvas = np.full((size, size, 3), BACKGROUND, np.uint8)
    pts = (kpts - center) * scale + size / 2
    for j, (x, y) in enumerate(pts):
        r = max(2, int(round(spread[j] * focal / root_depth * scale)))
        cv2.circle(canvas, (int(x), int(y)), r, (80, 160, 255), 2, cv2.LINE_AA)
    return canvas, kpts


def hypotheses_panel(hyps: np.ndarray, mean: np.ndarray, skeleton, colors, size: int = 400) -> np.ndarray:
    """All hypotheses (thin) and their mean (thick) in one 3D view, as an RGB image ``(size, size, 3)``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(size / 100, size / 100), dpi=100)
    ax = fig.add_subplot(1, 1, 1, projection='3d')
    ax.view_init(elev=15., azim=70)
    center = mean.mean(0)
    for pose, width, alpha in [(h, 0.8, 0.35) for h in hyps] + [(mean, 2.5, 1.0)]:
        for (a, b), c in zip(skeleton, colors):
            ax.plot(*[pose[[a, b], d] for d in range(3)], color=np.asarray(c) / 255., lw=width, alpha=alpha)
    for d, setter in enumerate((ax.set_xlim3d, ax.set_ylim3d, ax.set_zlim3d)):
        setter([center[d] - 0.9, center[d] + 0.9])
    ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    ax.set_title(f'{len(hyps)} hypotheses')
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return img


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData
    from mmpose.registry import DATASETS, VISUALIZERS
    from mmpose.structures import PoseDataSample

    import diffpose_mm  # noqa: F401  (registers the modules)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    model = load_model(cfg, args.checkpoint)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    indices = [args.index] if args.index is not None else list(range(min(args.candidates, len(dataset))))
    samples = predict(model, dataset, indices, args.num_hypotheses)
    best = int(np.argmax([s.pred_instances.keypoint_spread.mean() for s in samples]))
    sample, info = samples[best], dataset.get_data_info(indices[best])
    pred = sample.pred_instances
    hyps, mean = pred.keypoint_hypotheses[0], pred.keypoints[0]
    gt = np.asarray(sample.gt_instances.lifting_target).reshape(-1, 3)
    spread = pred.keypoint_spread[0]

    _matplotlib_compat()
    visualizer = VISUALIZERS.build(dict(type='Pose3dLocalVisualizer', name=f'vis_lifting_{os.getpid()}'))
    visualizer.set_dataset_meta(dataset.metainfo)
    canvas, kpts_2d = input_panel(info, spread, float(mean[0, 2]))
    scale = canvas.shape[0] / ((kpts_2d.max(0) - kpts_2d.min(0)).max() * 1.4 + 1)
    shown = PoseDataSample()
    shown.pred_instances = InstanceData(keypoints=upright(mean)[None], keypoint_scores=np.ones((1, len(mean))))
    shown.gt_instances = InstanceData(lifting_target=upright(gt)[None])
    det = PoseDataSample()
    det.pred_instances = InstanceData(
        keypoints=((kpts_2d - (kpts_2d.min(0) + kpts_2d.max(0)) / 2) * scale + canvas.shape[0] / 2)[None],
        keypoint_scores=np.ones((1, len(kpts_2d))))
    visualizer.add_datasample('lifting', canvas, data_sample=shown, det_data_sample=det, draw_gt=True,
                              dataset_2d='h36m', dataset_3d='h36m', convert_keypoint=False, axis_limit=1.8, kpt_thr=0.)
    main_img = visualizer.get_image()
    extra = hypotheses_panel(
        upright(hyps), upright(mean), visualizer.skeleton, visualizer.link_color, size=main_img.shape[0])
    image = np.concatenate([main_img, extra], axis=1)
    mpjpe = float(np.linalg.norm(mean - gt, axis=-1).mean() * 1000)
    cv2.putText(
        image, f'{osp.basename(str(info["target_img_path"][0]))}  MPJPE {mpjpe:.0f} mm, mean spread '
        f'{spread.mean() * 1000:.0f} mm (circles)', (10, image.shape[0] - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0),
        1, cv2.LINE_AA)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(f'wrote {args.out}: sample {indices[best]} ({info["target_img_path"][0]}), MPJPE {mpjpe:.1f} mm, '
          f'spread {spread.mean() * 1000:.1f} mm')
    return 0


if __name__ == '__main__':
    sys.exit(main())
