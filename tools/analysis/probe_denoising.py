"""How good is a trained DiffPose decoder at each diffusion step? (and a plain heatmap head, for comparison)

For every work dir given (a finished training: its dumped config and ``last_checkpoint``), the GT-box samples of
the validation set are run through the model and the share of labelled joints whose predicted heatmap maximum lies
within ``--radius`` heatmap pixels of the ground truth is printed, per joint group:

- a DiffPose model is probed with its single x0 prediction from ``q_sample(GT, t)`` for each ``--timesteps`` t
  (t = 999 is pure noise: what the first DDIM step sees), and with the full sampler for each ``--grid`` N x steps:
  the mean of the N groups' heatmaps (what the head decodes), and for N > 1 two other uses of the same N groups:
  a per-joint *cluster vote* (the mean of the groups whose maxima lie within ``--radius`` of the groups' medoid,
  the location most other groups agree with: a mode where the groups split between two places) and the
  *best of N* (a joint is hit if any group's maximum is: an oracle, the most a selector of hypotheses could get),
  next to two controls: the same oracle over the N highest peaks of the mean heatmap (do the groups cover more
  than the modes their mean already shows?), and over hypotheses placed around the mean heatmap's maximum by
  another validation person's group offsets (does this person's spread say where the mean is wrong, or would a
  jitter typical of the joint gain as much?);
- any other top-down model (e.g. the ``HeatmapHead`` variant of ``run_ablations.py``) with its heatmaps, and the
  oracle over their N highest peaks (N the largest of ``--grid``): the multi-hypothesis baseline without diffusion.

A peak is a local maximum in a ``(2 ceil(radius) + 1)``-pixel window (MMPose's ``batch_heatmap_nms``), so two
peaks are more than ``--radius`` apart (unless of exactly equal height).

Example (after ``tools/analysis/run_ablations.py``)::

    python tools/analysis/probe_denoising.py work_dirs/ablations/delta2 work_dirs/ablations/heatmap_head
"""
import argparse
import math
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmpose.codecs.utils import batch_heatmap_nms, get_heatmap_maximum

import diffpose_mm  # noqa: F401  (registers the DiffPose modules)
from diffpose_mm.datasets.posetrack_format import POSETRACK_GROUP_INDICES
from diffpose_mm.utils import gt_box_dataset, load_run, mean_std, mean_std_cell, render_table


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+', help='finished training work dirs (config + last_checkpoint)')
    parser.add_argument('--timesteps', type=int, nargs='+', default=[0, 250, 500, 750, 900, 999])
    parser.add_argument('--grid', nargs='+', default=['1x1', '10x1', '1x4', '10x4'], help='sampler settings NxSTEPS')
    parser.add_argument('--radius', type=float, default=2., help='hit radius (and cluster radius) in heatmap pixels')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if not args.radius > 0:  # the cluster vote divides by its members, at least the medoid itself
        parser.error(f'--radius must be > 0, got {args.radius}')
    grid = []
    for setting in args.grid:
        n, _, steps = setting.lower().partition('x')
        if not (n.isdigit() and steps.isdigit() and int(n) > 0 and int(steps) > 0):
            parser.error(f'--grid entries are NxSTEPS with positive integers (e.g. 10x4), got {setting!r}')
        grid.append((int(n), int(steps)))
    args.grid = grid  # [(N, steps), ...]
    return args


def gt_box_batch(cfg: Config) -> dict:
    """All GT-box validation samples with their target heatmaps, collated as one batch."""
    dataset = gt_box_dataset(cfg, with_targets=True)
    return pseudo_collate([dataset[i] for i in range(len(dataset))])


def hit_rates(pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor, radius: float) -> Dict[str, float]:
    """% of labelled joints whose heatmap maximum is within ``radius`` px, per group and over all joints.

    Args:
        pred (Tensor): ``(B, K, H, W)`` heatmaps, or ``(B, N, K, H, W)`` hypotheses: a joint is then hit if the
            maximum of **any** of its ``N`` heatmaps is (best of N, an oracle over the hypotheses).
        gt (Tensor): ``(B, K, H, W)`` target heatmaps.
        weights (Tensor): ``(B, K)`` keypoint weights (0 = unlabelled, left out).
    """
    groups = pred.float()
    if groups.dim() == 4:  # one hypothesis per joint
        groups = groups[:, None]
    B, N = groups.shape[:2]
    p, _ = get_heatmap_maximum(groups.flatten(0, 1).numpy())
    g, _ = get_heatmap_maximum(gt.float().numpy())
    hit = (np.linalg.norm(p.reshape(B, N, *p.shape[1:]) - g[:, None], axis=-1) <= radius).any(axis=1)
    valid = weights.numpy() > 0
    rates = {name: 100 * hit[:, idx][valid[:, idx]].mean() for name, idx in POSETRACK_GROUP_INDICES.items()}
    rates['All'] = 100 * hit[valid].mean()
    return rates


def argmax_xy(heatmaps: torch.Tensor) -> torch.Tensor:
    """Integer ``(x, y)`` of the maximum of every map of ``heatmaps (..., H, W)``: ``(..., 2)``."""
    W = heatmaps.shape[-1]
    flat = heatmaps.flatten(-2).argmax(-1)
    return torch.stack([flat % W, flat // W], dim=-1)


def one_hot_maps(flat_idx: torch.Tensor, size: tuple) -> torch.Tensor:
    """Maps ``(..., H, W)`` that are 1 at the flat index ``flat_idx (...)`` and 0 elsewhere (``size = (H, W)``)."""
    H, W = size
    return torch.zeros(*flat_idx.shape, H * W).scatter_(-1, flat_idx[..., None], 1.).reshape(*flat_idx.shape, H, W)


def cluster_vote(groups: torch.Tensor, radius: float) -> torch.Tensor:
    """Per-joint mode of ``groups (B, N, K, H, W)``: for every joint, the mean heatmap of the groups whose maxima
    lie within ``radius`` px of the medoid, the group whose maximum has the most others within ``radius`` (the
    first such group on ties). Returns ``(B, K, H, W)``."""
    B, N, K, H, W = groups.shape
    locs = argmax_xy(groups).float().transpose(1, 2)  # (B, K, N, 2)
    close = (torch.cdist(locs, locs) <= radius).float()  # (B, K, N, N)
    medoid = close.sum(-1).argmax(-1)  # (B, K)
    members = close.gather(2, medoid[..., None, None].expand(B, K, 1, N)).squeeze(2)  # (B, K, N)
    weights = members / members.sum(-1, keepdim=True)
    return torch.einsum('bkn,bnkhw->bkhw', weights, groups)


def top_peaks(heatmaps: torch.Tensor, k: int, radius: float) -> torch.Tensor:
    """The ``k`` highest local maxima of ``heatmaps (B, K, H, W)`` as ``k`` hypotheses ``(B, k, K, H, W)``, each
    a one-hot map at its peak (hypothesis 0 at the heatmap maximum). Peaks come from a ``(2 ceil(radius) + 1)``
    window non-maximum suppression; a joint with fewer than ``k`` positive peaks repeats its maximum."""
    B, K, H, W = heatmaps.shape
    heatmaps = heatmaps.float()
    peaks = batch_heatmap_nms(heatmaps, 2 * math.ceil(radius) + 1).flatten(2)  # (B, K, HW), 0 off the peaks
    values, idx = peaks.masked_fill(peaks <= 0, float('-inf')).topk(min(k, H * W), dim=-1)  # (B, K, k)
    idx = torch.where(torch.isfinite(values), idx, heatmaps.flatten(2).argmax(-1, keepdim=True))
    if idx.shape[-1] < k:
        idx = torch.cat([idx, idx[..., :1].expand(B, K, k - idx.shape[-1])], dim=-1)
    return one_hot_maps(idx, (H, W)).transpose(1, 2)


def borrowed_offsets(groups: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Hypotheses ``(B, N, K, H, W)`` (one-hot maps) at the mean heatmap's maximum of person ``b`` moved by the
    offsets of the ``N`` group maxima from the mean heatmap's maximum of person ``perm[b]`` (clipped to the map):
    with ``perm = arange(B)`` they are the groups' own maxima."""
    H, W = groups.shape[-2:]
    center = argmax_xy(groups.mean(1))  # (B, K, 2)
    locs = center[:, None] + (argmax_xy(groups) - center[:, None])[perm]  # (B, N, K, 2)
    x, y = locs[..., 0].clamp(0, W - 1), locs[..., 1].clamp(0, H - 1)
    return one_hot_maps(y * W + x, (H, W))


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
        heatmaps, k = head.forward(feats), max(n for n, _ in args.grid)
        rows = [(name, 'heatmaps', hit_rates(heatmaps, gt, weights, args.radius))]
        if k > 1:
            rows.append((name, f'heatmaps: best of top-{k} peaks (oracle)',
                         hit_rates(top_peaks(heatmaps, k, args.radius), gt, weights, args.radius)))
        return rows
    rows = []
    pyramid = head.feature_pyramid(feats[-1])
    generator = torch.Generator().manual_seed(args.seed)
    for t in args.timesteps:
        t_vec = torch.full((gt.shape[0], ), t, dtype=torch.long)
        x_t = head.diffusion.q_sample(gt, t_vec, generator=generator)
        rows.append((name, f'x0 from q_sample(GT, t={t})',
                     hit_rates(head.denoise(pyramid, x_t, t_vec), gt, weights, args.radius)))
    eta = model.test_cfg.get('eta', 1.0)
    for n, steps in args.grid:
        groups = head.sample(feats[-1], n, steps, eta, torch.Generator().manual_seed(args.seed))
        mean = groups.mean(1)
        sampler = f'sampler N={n} steps={steps}'
        rows.append((name, sampler, hit_rates(mean, gt, weights, args.radius)))
        if n > 1:
            rows.append((name, f'{sampler}: cluster vote',
                         hit_rates(cluster_vote(groups, args.radius), gt, weights, args.radius)))
            rows.append((name, f'{sampler}: best of {n} (oracle)', hit_rates(groups, gt, weights, args.radius)))
            rows.append((name, f'{sampler}: best of top-{n} peaks of the mean (oracle)',
                         hit_rates(top_peaks(mean, n, args.radius), gt, weights, args.radius)))
            perm = torch.randperm(groups.shape[0], generator=torch.Generator().manual_seed(args.seed))
            rows.append((name, f"{sampler}: best of {n}, another person's offsets (oracle)",
                         hit_rates(borrowed_offsets(groups, perm), gt, weights, args.radius)))
    return rows


def seed_summary(rows: List[tuple]) -> List[tuple]:
    """Rows of runs with the same name (the training seeds of one setting, ``seed0/delta2``, ``seed1/delta2``,
    ...) summarised: ``(name, prediction, num_runs, means, stds, diff)`` for every (name, prediction) seen in at
    least two runs. ``means``/``stds`` (``ddof=1``) are per column; ``diff`` is, for an ``'X: other use'`` row,
    the mean and std of its paired per-run difference in ``All`` to row ``X`` (``None`` otherwise)."""
    runs: Dict[tuple, List[Dict[str, float]]] = {}
    for name, what, rates in rows:
        runs.setdefault((name, what), []).append(rates)
    summary = []
    for (name, what), members in runs.items():
        if len(members) < 2:
            continue
        columns = list(members[0])
        values = np.array([[m[c] for c in columns] for m in members], dtype=np.float64)  # (runs, columns)
        diff = None
        reference = runs.get((name, what.split(': ')[0])) if ': ' in what else None
        if reference is not None and len(reference) == len(members):
            diff = mean_std([m['All'] - r['All'] for m, r in zip(members, reference)])
        means, stds = zip(*(mean_std(values[:, i]) for i in range(len(columns))))
        means, stds = dict(zip(columns, means)), dict(zip(columns, stds))
        summary.append((name, what, len(members), means, stds, diff))
    return summary


def main(argv: Optional[List[str]] = None) -> List[tuple]:
    args = parse_args(argv)
    rows = [row for work_dir in args.work_dirs for row in probe(work_dir, args)]
    header = ['run', 'prediction'] + list(POSETRACK_GROUP_INDICES) + ['All']
    table = [[run, what] + [f'{rates[k]:.1f}' for k in header[2:]] for run, what, rates in rows]
    print(f'% of labelled joints within {args.radius:g} heatmap px of the GT (GT boxes, validation set, no flip)')
    print(render_table(header, table, align='ll' + 'r' * (len(header) - 2), markdown=False))
    summary = seed_summary(rows)
    if summary:
        print('\nRuns of the same name (training seeds): mean ± std; Δ All = paired difference to the sampler row')
        print(
            render_table(header + ['runs', 'Δ All'],
                         [[run, what] + [mean_std_cell(means[k], stds[k]) for k in header[2:]] +
                          [str(num), mean_std_cell(*diff, signed=True) if diff else '-']
                          for run, what, num, means, stds, diff in summary]))
    return rows


if __name__ == '__main__':
    main()
