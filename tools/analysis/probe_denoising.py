"""How good is a trained DiffPose decoder at each diffusion step? (and a plain heatmap head, for comparison)

For every work dir given (a finished training: its dumped config and ``last_checkpoint``), the GT-box samples of
the validation set are run through the model and the share of labelled joints whose predicted heatmap maximum lies
within ``--radius`` heatmap pixels of the ground truth is printed, per joint group:

- a DiffPose model is probed with its single x0 prediction from ``q_sample(GT, t)`` for each ``--timesteps`` t
  (t = 999 is pure noise: what the first DDIM step sees), and with the full sampler for each ``--grid`` N x steps;
- any other top-down model (e.g. the ``HeatmapHead`` variant of ``run_ablations.py``) with its heatmaps.

Example (after ``tools/analysis/run_ablations.py``)::

    python tools/analysis/probe_denoising.py work_dirs/ablations/delta2 work_dirs/ablations/heatmap_head
"""
import argparse
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmpose.codecs.utils import get_heatmap_maximum

import diffpose_mm  # noqa: F401  (registers the DiffPose modules)
from diffpose_mm.datasets.posetrack_format import POSETRACK_GROUP_INDICES
from diffpose_mm.utils import gt_box_dataset, load_run, render_table


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+', help='finished training work dirs (config + last_checkpoint)')
    parser.add_argument('--timesteps', type=int, nargs='+', default=[0, 250, 500, 750, 900, 999])
    parser.add_argument('--grid', nargs='+', default=['1x1', '10x1', '1x4', '10x4'], help='sampler settings NxSTEPS')
    parser.add_argument('--radius', type=float, default=2., help='hit radius in heatmap pixels')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def gt_box_batch(cfg: Config) -> dict:
    """All GT-box validation samples with their target heatmaps, collated as one batch."""
    dataset = gt_box_dataset(cfg, with_targets=True)
    return pseudo_collate([dataset[i] for i in range(len(dataset))])


def hit_rates(pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor, radius: float) -> Dict[str, float]:
    """% of labelled joints whose heatmap maximum is within ``radius`` px, per group and over all joints."""
    p, _ = get_heatmap_maximum(pred.float().numpy())
    g, _ = get_heatmap_maximum(gt.float().numpy())
    hit = np.linalg.norm(p - g, axis=-1) <= radius
    valid = weights.numpy() > 0
    rates = {name: 100 * hit[:, idx][valid[:, idx]].mean() for name, idx in POSETRACK_GROUP_INDICES.items()}
    rates['All'] = 100 * hit[valid].mean()
    return rates


@torch.no_grad()
def probe(work_dir: str, args: argparse.Namespace) -> List[tuple]:
    cfg, model = load_run(work_dir)
    data = model.data_preprocessor(gt_box_batch(cfg), False)
    gt = torch.stack([s.gt_fields.heatmaps for s in data['data_samples']])
    weights = torch.cat([s.gt_instance_labels.keypoint_weights for s in data['data_samples']])
    feats = model.extract_feat(data['inputs'])
    name = osp.basename(osp.normpath(work_dir))
    head = model.head
    if not hasattr(head, 'diffusion'):
        return [(name, 'heatmaps', hit_rates(head.forward(feats), gt, weights, args.radius))]
    rows = []
    pyramid = head.feature_pyramid(feats[-1])
    generator = torch.Generator().manual_seed(args.seed)
    for t in args.timesteps:
        t_vec = torch.full((gt.shape[0], ), t, dtype=torch.long)
        x_t = head.diffusion.q_sample(gt, t_vec, generator=generator)
        rows.append((name, f'x0 from q_sample(GT, t={t})',
                     hit_rates(head.denoise(pyramid, x_t, t_vec), gt, weights, args.radius)))
    eta = model.test_cfg.get('eta', 1.0)
    for setting in args.grid:
        n, steps = (int(v) for v in setting.lower().split('x'))
        x0 = head.sample(feats[-1], n, steps, eta, torch.Generator().manual_seed(args.seed)).mean(1)
        rows.append((name, f'sampler N={n} steps={steps}', hit_rates(x0, gt, weights, args.radius)))
    return rows


def main(argv: Optional[List[str]] = None) -> List[tuple]:
    args = parse_args(argv)
    rows = [row for work_dir in args.work_dirs for row in probe(work_dir, args)]
    header = ['run', 'prediction'] + list(POSETRACK_GROUP_INDICES) + ['All']
    table = [[run, what] + [f'{rates[k]:.1f}' for k in header[2:]] for run, what, rates in rows]
    print(f'% of labelled joints within {args.radius:g} heatmap px of the GT (GT boxes, validation set, no flip)')
    print(render_table(header, table, align='ll' + 'r' * (len(header) - 2), markdown=False))
    return rows


if __name__ == '__main__':
    main()
