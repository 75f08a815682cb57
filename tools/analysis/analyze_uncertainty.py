"""Does the per-keypoint uncertainty a model reports predict its actual error?

For every work dir given (a finished training: its dumped config and ``last_checkpoint``), the GT-box samples of
the validation set are run through the model's normal ``test_step`` path with the config's own ``model.test_cfg``
(N noise groups, DDIM steps, flip test; CPU). For every labelled joint the error is measured in PoseTrack head
sizes (``0.6 *`` diagonal of the GT head box ``bbox_head``; a joint is *wrong* if its error is above ``--thr``,
0.5 = PCKh@0.5) and compared with two uncertainty signals:

- ``spread``: DiffPose's ``keypoint_spread``, the RMS distance (original-image pixels) of the N noise groups'
  decoded locations from their mean (DiffPose models only; constant zero when N = 1);
- ``1 - score``: one minus the keypoint score (heatmap maximum), for every model.

Columns: the PoseTrack joint groups (Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle), ``All`` joints, and
``All (degraded)``: all joints of key frames whose GT image has ``degradation`` ``'blur'`` or ``'occlusion'``
(the synthetic data; real PoseTrack has no such field, so that column is empty there). Each cell gives the
Spearman rank correlation of the signal with the error and the AUROC of the signal for "joint is wrong"
(0.5 = no better than chance); a ``wrong %`` row per run gives the base rate and the number of joints.
Work dirs with the same name (the training seeds of one row, ``seed0/delta2 seed1/delta2 ...``) are also
summarised: a second table gives each signal's AUROC as mean ± std over them.

Example (after ``tools/analysis/run_ablations.py``; ``--data-root`` points the runs at data generated with
another seed)::

    python tools/dataset_converters/make_synthetic_posetrack.py --out data/synth_s1 --seed 1
    python tools/analysis/analyze_uncertainty.py work_dirs/ablations/delta2 work_dirs/ablations/heatmap_head \\
        --data-root data/synth_s1 --out work_dirs/uncertainty.json
"""
import argparse
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.logging import print_log
from scipy.stats import rankdata

import diffpose_mm  # noqa: F401  (registers the DiffPose modules)
from diffpose_mm.datasets.posetrack_format import POSETRACK_GROUP_INDICES
from diffpose_mm.datasets.posetrack_video_dataset import load_posetrack_annotations
from diffpose_mm.utils import gt_box_dataset, json_safe, load_run, mean_std, render_table

COLUMNS = tuple(POSETRACK_GROUP_INDICES) + ('All', 'All (degraded)')
SIGNALS = ('spread', '1 - score')


# ------------------------------------------------------------------------------------------------ statistics
def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation: the Pearson correlation of the (average, for ties) ranks of ``x`` and ``y``.

    Args:
        x (Sequence[float]): ``(M, )`` values.
        y (Sequence[float]): ``(M, )`` values paired with ``x``.

    Returns:
        float: in ``[-1, 1]``; NaN if ``M < 2`` or either input is constant (the correlation is undefined).

    Example:
        >>> spearman([1, 2, 3, 4], [1, 8, 27, 64])  # monotone, not linear
        1.0
    """
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f'spearman: x and y must have the same length, got {x.size} and {y.size}')
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float('nan')
    rx, ry = rankdata(x) - (x.size + 1) / 2, rankdata(y) - (y.size + 1) / 2  # centred average ranks
    return float(np.clip((rx * ry).sum() / np.sqrt((rx**2).sum() * (ry**2).sum()), -1., 1.))


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve: P(a random positive scores higher than a random negative), ties count 1/2.

    Computed as the Mann-Whitney U statistic from average ranks, which counts ties as 1/2 exactly.

    Args:
        scores (Sequence[float]): ``(M, )`` signal, higher = more likely positive.
        labels (Sequence[bool]): ``(M, )`` ground truth (nonzero = positive).

    Returns:
        float: in ``[0, 1]``; NaN if there are no positives or no negatives.

    Example:
        >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        0.75
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    if scores.shape != labels.shape:
        raise ValueError(f'auroc: scores and labels must have the same length, got {scores.size} and '
                         f'{labels.size}')
    num_pos = int(labels.sum())
    num_neg = labels.size - num_pos
    if num_pos == 0 or num_neg == 0:
        return float('nan')
    u = rankdata(scores)[labels].sum() - num_pos * (num_pos + 1) / 2
    return float(u / (num_pos * num_neg))


# ------------------------------------------------------------------------------------------------ data
@torch.no_grad()
def collect_records(cfg: Config, model: torch.nn.Module, batch_size: int = 32) -> Dict[str, np.ndarray]:
    """Error and uncertainty of every labelled joint of every GT-box validation sample.

    The data samples keep the json annotation (``metainfo['raw_ann_info']``, packed by MMPose's
    ``PackPoseInputs``), which has the GT keypoints in original-image pixels and ``bbox_head``; the
    ``degradation`` of the key frame is looked up in the GT json's ``images`` by ``img_id``.

    Args:
        cfg (Config): The run's config (its ``val_dataloader.dataset`` is used without detections).
        model (nn.Module): The top-down model, in eval mode.
        batch_size (int): Samples per ``test_step``. Defaults to 32.

    Returns:
        dict: ``(M, )`` arrays over the M labelled joints: ``error`` (distance to GT / head size), ``score``
        (keypoint score), ``spread`` (keypoint spread in px, only if the model reports it), ``joint``
        (keypoint index), ``degraded`` (bool, key frame blurred or occluded), ``ann_id`` and ``img_id``.
    """
    dataset = gt_box_dataset(cfg)
    data = load_posetrack_annotations(dataset.ann_file)
    degradation = {img['id']: img.get('degradation', 'none') for img in data['images']}
    anns = {ann['id']: ann for ann in data['annotations']}
    rows = {k: [] for k in ('error', 'score', 'spread', 'joint', 'degraded', 'ann_id', 'img_id')}
    num_no_head = 0
    for start in range(0, len(dataset), batch_size):
        batch = pseudo_collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        for sample in model.test_step(batch):
            meta = sample.metainfo
            ann = meta.get('raw_ann_info') or anns[meta['id']]
            head_box = ann.get('bbox_head', anns.get(ann['id'], {}).get('bbox_head'))
            gt = np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
            labelled = gt[:, 2] > 0
            if head_box is None:
                raise ValueError(f'{dataset.ann_file}: annotation {ann["id"]} has labelled keypoints but no '
                                 '"bbox_head" (the PoseTrack error unit)')
            head_size = 0.6 * math.hypot(head_box[2], head_box[3])
            if not head_size > 0:  # poseval never matches such a person: no error to measure
                num_no_head += 1
                continue
            pred = sample.pred_instances
            error = np.linalg.norm(np.asarray(pred.keypoints[0], dtype=np.float64) - gt[:, :2], axis=-1) / head_size
            idx = np.flatnonzero(labelled)
            rows['error'].append(error[idx])
            rows['score'].append(np.asarray(pred.keypoint_scores[0], dtype=np.float64)[idx])
            if 'keypoint_spread' in pred:
                rows['spread'].append(np.asarray(pred.keypoint_spread[0], dtype=np.float64)[idx])
            rows['joint'].append(idx)
            rows['degraded'].append(np.full(idx.size, degradation.get(meta['img_id'], 'none') != 'none'))
            rows['ann_id'].append(np.full(idx.size, ann['id']))
            rows['img_id'].append(np.full(idx.size, meta['img_id']))
    if num_no_head:
        print_log(f'{dataset.ann_file}: skipped {num_no_head} person(s) with an empty head box', logger='current')
    if rows['spread'] and len(rows['spread']) != len(rows['error']):
        raise RuntimeError('the model reported keypoint_spread for some samples only')
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in rows.items() if k != 'spread' or v}


# ------------------------------------------------------------------------------------------------ table
def column_masks(records: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Boolean ``(M, )`` selection of the records of each column of :data:`COLUMNS`."""
    joint = np.asarray(records['joint'])
    masks = {name: np.isin(joint, idx) for name, idx in POSETRACK_GROUP_INDICES.items()}
    masks['All'] = np.ones(joint.shape, dtype=bool)
    masks['All (degraded)'] = np.asarray(records['degraded'], dtype=bool)
    return masks


def uncertainty_table(runs: Dict[str, Dict[str, np.ndarray]], thr: float = 0.5) -> List[dict]:
    """Rank agreement of each uncertainty signal with the error, per joint group.

    Args:
        runs (dict[str, dict]): Run name -> records as returned by :func:`collect_records` (``error``, ``score``,
            ``joint``, ``degraded`` and optionally ``spread``, each ``(M, )``).
        thr (float): A joint is wrong if ``error > thr`` (head sizes). Defaults to 0.5 (PCKh@0.5).

    Returns:
        list[dict]: One row per (run, signal): ``spread`` (only for runs whose records have it) and
        ``1 - score``, each ``dict(run, signal, columns)`` where ``columns[c]`` for ``c`` in :data:`COLUMNS` is
        ``dict(spearman, auroc, wrong, num)``: Spearman correlation of the signal with the error, AUROC of the
        signal for ``error > thr``, the share of wrong joints (same for all signals of a run) and the number of
        joints. NaN where undefined (no joints, a constant signal or error, or only one class).
    """
    rows = []
    for run, rec in runs.items():
        error = np.asarray(rec['error'], dtype=np.float64)
        wrong = error > thr
        masks = column_masks(rec)
        signals = {}
        if 'spread' in rec:
            signals['spread'] = np.asarray(rec['spread'], dtype=np.float64)
        signals['1 - score'] = 1. - np.asarray(rec['score'], dtype=np.float64)
        for signal, values in signals.items():
            columns = {}
            for col, m in masks.items():
                columns[col] = dict(
                    spearman=spearman(values[m], error[m]), auroc=auroc(values[m], wrong[m]),
                    wrong=float(wrong[m].mean()) if m.any() else float('nan'), num=int(m.sum()))
            rows.append(dict(run=run, signal=signal, columns=columns))
    return rows


def format_table(rows: List[dict], thr: float = 0.5) -> str:
    """Markdown table: per run a ``wrong % (n)`` base-rate row, then ``Spearman / AUROC`` per signal."""

    def fmt(v: float, signed: bool = False) -> str:
        return 'n/a' if not math.isfinite(v) else (f'{v:+.2f}' if signed else f'{v:.2f}')

    header = ['run', 'signal'] + list(COLUMNS)
    lines, seen = [], set()
    for row in rows:
        cols = row['columns']
        if row['run'] not in seen:
            seen.add(row['run'])
            lines.append(
                [row['run'], f'wrong % (n), err > {thr:g}'] +
                [f'{100 * cols[c]["wrong"]:.0f}% ({cols[c]["num"]})' if cols[c]['num'] else '(0)' for c in COLUMNS])
        lines.append([row['run'], f'{row["signal"]}: rho / AUROC'] +
                     [f'{fmt(cols[c]["spearman"], True)} / {fmt(cols[c]["auroc"])}' for c in COLUMNS])
    return render_table(header, lines)


def seed_summary(rows: List[dict]) -> List[dict]:
    """AUROC over runs of the same name (e.g. ``seed0/delta2``, ``seed1/delta2``, ...): one row per name with
    at least two runs and per signal, ``dict(run, signal, num_runs, columns)`` where ``columns[c]`` is
    ``dict(auroc, std)``: mean and std (``ddof=1``) of the runs' AUROC in column ``c`` (NaN runs left out)."""
    groups: Dict[tuple, List[dict]] = {}
    for row in rows:
        groups.setdefault((osp.basename(osp.normpath(row['run'])), row['signal']), []).append(row)
    summary = []
    for (run, signal), members in groups.items():
        if len(members) < 2:
            continue
        columns = {}
        for col in COLUMNS:
            v = np.array([m['columns'][col]['auroc'] for m in members], dtype=np.float64)
            columns[col] = dict(zip(('auroc', 'std'), mean_std(v[np.isfinite(v)])))
        summary.append(dict(run=run, signal=signal, num_runs=len(members), columns=columns))
    return summary


def format_summary(summary: List[dict]) -> str:
    """Markdown table of :func:`seed_summary`: ``AUROC mean ± std`` per column."""

    def fmt(v: dict) -> str:
        if not math.isfinite(v['auroc']):
            return 'n/a'
        return f'{v["auroc"]:.2f}' + (f' ± {v["std"]:.2f}' if math.isfinite(v['std']) else '')

    return render_table(
        ['run', 'signal', 'runs'] + list(COLUMNS),
        [[s['run'], f'{s["signal"]}: AUROC', str(s['num_runs'])] + [fmt(s['columns'][c]) for c in COLUMNS]
         for s in summary])


# ------------------------------------------------------------------------------------------------ CLI
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+', help='finished training work dirs (config + last_checkpoint)')
    parser.add_argument('--data-root', help="replaces the config's data_root prefix (e.g. data of another seed)")
    parser.add_argument('--out', help='also write the table (and settings) to this json file')
    parser.add_argument('--thr', type=float, default=0.5, help='a joint is wrong above this error (head sizes)')
    parser.add_argument('--batch-size', type=int, default=32, help='samples per test_step')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='key=value overrides applied to every run, e.g. model.test_cfg.num_noise_groups=1')
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    return args


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    names = [osp.basename(osp.normpath(w)) for w in args.work_dirs]
    if len(set(names)) < len(names):  # e.g. seed_0/delta2 and seed_1/delta2
        names = [osp.normpath(w) for w in args.work_dirs]
    runs, settings = {}, {}
    for name, work_dir in zip(names, args.work_dirs):
        cfg, model = load_run(work_dir, args.data_root, args.cfg_options)
        runs[name] = collect_records(cfg, model, args.batch_size)
        ds_cfg = cfg.val_dataloader.dataset
        settings[name] = dict(work_dir=work_dir, ann_file=osp.join(ds_cfg.get('data_root') or '', ds_cfg.ann_file),
                              diffusion=hasattr(model.head, 'diffusion'), test_cfg=dict(model.test_cfg))
    rows = uncertainty_table(runs, args.thr)
    print(f'Uncertainty vs error on the GT-box validation samples (error in head sizes; wrong = error > {args.thr:g};'
          ' rho: Spearman of the signal with the error, AUROC: of the signal for wrong joints)')
    for name, s in settings.items():
        t = s['test_cfg']
        sampling = f'N={t.get("num_noise_groups")} steps={t.get("sampling_steps")} ' if s['diffusion'] else ''
        print(f'  {name}: {sampling}flip_test={t.get("flip_test", False)} GT={s["ann_file"]}')
    print(format_table(rows, args.thr))
    summary = seed_summary(rows)
    if summary:  # several seeds of the same runs
        print('\nAUROC over the runs of the same name (training seeds): mean ± std')
        print(format_summary(summary))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                json_safe(dict(thr=args.thr, columns=list(COLUMNS), runs=settings, rows=rows, summary=summary)), f,
                indent=2, default=str)
        print(f'written to {args.out}')
    return rows


if __name__ == '__main__':
    main()
