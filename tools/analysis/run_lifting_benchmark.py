"""Compare DiffPose-3D with MMPose's lifters and its own ablations on the synthetic Human3.6M-layout data.

One command trains and tests every row for each of ``--seeds`` (``randomness.seed``) and prints a markdown table
of MPJPE, P-MPJPE and N-MPJPE (mm) as ``mean ± std`` over seeds, with the paired per-seed difference
``Δ MPJPE`` to the DiffPose-3D row of the same setting. Rows (``--only`` picks the experiments; the two DiffPose-3D
references are always trained):

Frame setting (one input frame), reference ``configs/diffpose3d/diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m.py``:

- ``simplebaseline``: MMPose's SimpleBaseline3D config (``image-pose-lift_tcn``: TCN with 1-frame kernels,
  ``ImagePoseLifting`` with statistics of the training data, MSE loss, no flip augmentation as shipped);
- ``DiffPose-3D``: the reference (GMM prior, context conditioning, the config's N and steps);
- ``gaussian``: the same with the standard ``N(0, I)`` prior instead of the GMM prior (retrained), at the
  reference's signal scale and at ``--gaussian-signal-scale`` (with the reference's, the Gaussian noise is about
  2 m per joint coordinate and the denoiser learns to ignore it);
- ``no_context``: without context conditioning of the denoiser (retrained);
- ``init``: the reference checkpoint's context encoder alone (its initial pose, no diffusion);
- ``flip``: the reference with flip test (the other rows have none: MMPose's TemporalRegressionHead has none);
- ``noise_groups`` / ``sampling_steps``: the reference tested with other N / DDIM steps (no retraining).

Sequence setting (27-frame windows, every frame a target), reference
``configs/diffpose3d/diffpose3d_tcn-27frm_1xb256-8e_synthetic-h36m.py``:

- ``videopose3d``: MMPose's VideoPose3D config (``video-pose-lift_tcn-27frm-supv``: TCN 3x3x3, MPJPE loss);
- ``DiffPose-3D``: the sequence reference (``sequence`` trains both rows).

Same budget for every row: the reference's dataset files, batch size, epochs, optimizer, learning-rate schedule
and seed; MMPose's models keep their own network, codec, loss, dropout and augmentation (none for SimpleBaseline3D),
with the TCN width of the reference's context encoder (``stem_channels``, 256 here instead of 1024 for the CPU);
VideoPose3D flips like the reference (a camera mirror: the shipped static centre x = 0.5 px shifts flipped 2D
inputs by about two image widths). The last checkpoint of each training is tested on the test split. Runs live
in ``<out-dir>/seed<S>/<run>`` and are reused when their config (fingerprint) is unchanged. The table is printed
and written to ``<out-dir>/<name>.md``, all metrics to ``<name>.json``.

Example::

    python tools/analysis/run_lifting_benchmark.py --data-root data/synthetic_h36m_seed0 --data-seed 0 --seeds 0 1 2
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.evaluator import BaseMetric
from mmengine.fileio import load
from mmengine.logging import print_log
from mmpose.registry import METRICS as METRICS_REGISTRY

from diffpose_mm.utils import json_safe, mean_std, mean_std_cell, render_table, with_data_root
from diffpose_mm.utils.cached_runs import test_once, train_once

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FRAME_CONFIG = osp.join(REPO, 'configs', 'diffpose3d', 'diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m.py')
SEQUENCE_CONFIG = osp.join(REPO, 'configs', 'diffpose3d', 'diffpose3d_tcn-27frm_1xb256-8e_synthetic-h36m.py')
MMPOSE_SIMPLEBASELINE = 'body_3d_keypoint/image_pose_lift/h36m/image-pose-lift_tcn_8xb64-200e_h36m.py'
MMPOSE_VIDEOPOSE3D = 'body_3d_keypoint/video_pose_lift/h36m/video-pose-lift_tcn-27frm-supv_8xb128-160e_h36m.py'
GAUSSIAN_SIGNAL_SCALE = 4.  # chosen on data seed 1: the Gaussian variant whose hypotheses spread like the GMM's
EXPERIMENTS = ('simplebaseline', 'gaussian', 'no_context', 'init', 'flip', 'noise_groups', 'sampling_steps', 'sequence')
METRICS = ('MPJPE', 'P-MPJPE', 'N-MPJPE')
SPREAD = 'keypoint_spread'  # mean pred_instances.keypoint_spread (m), DiffPose-3D rows only
SPREAD_CORR = 'spread_error_corr'  # correlation of a joint's spread with its error, DiffPose-3D rows only
# what the reference budget consists of (copied into the MMPose baselines)
BUDGET_KEYS = ('train_cfg', 'optim_wrapper', 'param_scheduler', 'auto_scale_lr', 'randomness', 'default_hooks',
               'log_processor', 'custom_hooks', 'val_cfg', 'test_cfg', 'env_cfg')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frame-config', default=FRAME_CONFIG, help='DiffPose-3D frame reference config')
    parser.add_argument('--sequence-config', default=SEQUENCE_CONFIG, help='DiffPose-3D sequence reference config')
    parser.add_argument('--data-root', default='data/synthetic_h36m', help='dataset root; generated with '
                        '--data-seed if it does not exist')
    parser.add_argument(
        '--data-seed', type=int, default=0, help='seed of the synthetic data generated at '
        '--data-root when it is missing (tune on one data seed, report on another)')
    parser.add_argument('--out-dir', default='work_dirs/lifting_benchmark', help='work dirs, table and json')
    parser.add_argument('--name', default='lifting_benchmark', help='table file name (<out-dir>/<name>.md/.json)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0], help='training seeds (randomness.seed)')
    parser.add_argument('--epochs', type=int, help="training epochs of every row (default: the reference's)")
    parser.add_argument('--only', nargs='*', choices=EXPERIMENTS, default=list(EXPERIMENTS),
                        help='experiments besides the DiffPose-3D frame reference (always trained)')
    parser.add_argument('--noise-groups', type=int, nargs='+', default=[1, 5, 10], help='N hypotheses tested')
    parser.add_argument('--sampling-steps', type=int, nargs='+', default=[1, 2, 5, 10], help='DDIM steps tested')
    parser.add_argument('--gaussian-signal-scale', type=float, default=GAUSSIAN_SIGNAL_SCALE,
                        help='signal_scale of the second Gaussian-prior row')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='key=value overrides applied to both references (before deriving the rows)')
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f'--epochs must be >= 1, got {args.epochs}')
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must be distinct, got {args.seeds}')
    if min(args.noise_groups + args.sampling_steps) < 1:
        parser.error('--noise-groups and --sampling-steps must be >= 1')
    return args


# ----------------------------------------------------------------------------------------------- configs
def reference_config(path: str, args: argparse.Namespace, seed: int) -> Config:
    """A DiffPose-3D reference with ``--data-root``, ``--cfg-options``, ``--epochs`` and ``seed``; no flip test
    (the MMPose baselines have none), no validation during training, the hypotheses' spread measured."""
    cfg = with_data_root(Config.fromfile(path), args.data_root)
    cfg.merge_from_dict(args.cfg_options)
    if args.epochs is not None:
        set_epochs(cfg, args.epochs)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    cfg.model.test_cfg = dict(cfg.model.get('test_cfg') or {}, flip_test=False)
    return with_spread_metric(cfg)


def set_epochs(cfg: Config, epochs: int) -> None:
    """Train ``epochs`` epochs; epoch-based schedulers (``T_max``, ``end``, milestones) and the checkpoint interval
    follow."""
    old = cfg.train_cfg.max_epochs
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    for sched in cfg.get('param_scheduler') or []:
        if not sched.get('by_epoch', True):
            continue
        for key in ('T_max', 'end'):
            if key in sched and math.isfinite(sched[key]):
                sched[key] = max(1, round(sched[key] * epochs / old))
        if 'milestones' in sched:
            sched['milestones'] = [max(1, round(m * epochs / old)) for m in sched['milestones']]
    if 'checkpoint' in cfg.get('default_hooks', {}):
        cfg.default_hooks.checkpoint.interval = epochs


def head_config(cfg: Config, **options) -> Config:
    """``cfg`` with ``model.head`` options changed (``prior_mode`` sets ``model.head.prior.mode``, ``signal_scale``
    ``model.head.diffusion.signal_scale``)."""
    cfg = copy.deepcopy(cfg)
    for key, value in options.items():
        if key == 'prior_mode':
            cfg.model.head.prior = dict(cfg.model.head.prior, mode=value)
        elif key == 'signal_scale':
            cfg.model.head.diffusion = dict(cfg.model.head.get('diffusion') or {}, signal_scale=value)
        else:
            cfg.model.head[key] = value
    return cfg


@METRICS_REGISTRY.register_module(force=True)
class KeypointSpreadMetric(BaseMetric):
    """How far the hypotheses of a DiffPose-3D test spread, and whether the spread tells the error.

    ``keypoint_spread``: mean ``pred_instances.keypoint_spread`` (m). ``spread_error_corr``: Pearson correlation,
    over all test joints, of a joint's spread with its position error (the paper's reliability claim: the spread
    should be large where the estimate is wrong); NaN when every spread is zero.
    """

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            pred = np.asarray(sample['pred_instances']['keypoints']).reshape(-1, 3)
            gt = np.asarray(sample['gt_instances']['lifting_target']).reshape(-1, 3)
            spread = np.asarray(sample['pred_instances']['keypoint_spread']).reshape(-1)
            self.results.append((spread, np.linalg.norm(pred - gt, axis=-1)))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        spread = np.concatenate([r[0] for r in results])
        error = np.concatenate([r[1] for r in results])
        corr = float(np.corrcoef(spread, error)[0, 1]) if spread.std() > 0 else float('nan')
        return {SPREAD: float(spread.mean()), SPREAD_CORR: corr}


def with_spread_metric(cfg: Config) -> Config:
    """``cfg`` whose test evaluator also reports :class:`KeypointSpreadMetric` (DiffPose-3D rows)."""
    cfg = copy.deepcopy(cfg)
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
    cfg.test_evaluator = list(evaluators) + [dict(type='KeypointSpreadMetric')]
    return cfg


def test_config(cfg: Config, **test_cfg) -> Config:
    """``cfg`` testing with ``model.test_cfg`` updated."""
    cfg = copy.deepcopy(cfg)
    cfg.model.test_cfg.update(test_cfg)
    return cfg


def mmpose_config(relpath: str) -> Config:
    """One of MMPose's shipped configs (``mmpose/.mim/configs/<relpath>``)."""
    import mmpose
    return Config.fromfile(osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', relpath))


def lifting_stats(cfg: Config) -> Dict[str, list]:
    """``ImagePoseLifting`` statistics of the reference's training split: mean/std of the 2D input keypoints
    (pixels, ``keypoints_mean/std (K, 2)``) and of the root-relative 3D targets without the root
    (``target_mean/std (K-1, 3)``), as MMPose's ``joint2d_stats.pkl`` / ``joint3d_rel_stats.pkl``."""
    ds = cfg.train_dataloader.dataset
    ann = np.load(osp.join(ds.data_root, ds.ann_file))
    if ds.get('keypoint_2d_src', 'gt') == 'detection':
        kpts = np.load(osp.join(ds.data_root, ds.keypoint_2d_det_file))[..., :2]
    else:
        kpts = ann['part'][..., :2]
    rel = ann['S'][..., :3] - ann['S'][:, :1, :3]
    return dict(
        keypoints_mean=kpts.mean(0).tolist(), keypoints_std=kpts.std(0).tolist(),
        target_mean=rel[:, 1:].mean(0).tolist(), target_std=rel[:, 1:].std(0).tolist())


def _baseline(mmpose_cfg: Config, reference: Config, codec: dict, pipeline_head: Sequence[dict]) -> Config:
    """An MMPose lifter config on the reference's data and budget: its model (TCN width of the reference),
    ``codec`` and ``PackPoseInputs``; the reference's datasets (as ``Human36mDataset``), batch size and schedule."""
    cfg = copy.deepcopy(mmpose_cfg)
    ref = copy.deepcopy(reference)
    cfg.model.backbone.stem_channels = cfg.model.head.in_channels = ref.model.backbone.stem_channels
    cfg.model.head.decoder = codec
    pack = [t for t in cfg.train_pipeline if t['type'] == 'PackPoseInputs'][0]
    pipeline = list(pipeline_head) + [dict(type='GenerateTarget', encoder=codec), pack]
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = ref[key]
        loader.dataset.type = 'Human36mDataset'
        loader.dataset.pipeline = pipeline if key == 'train_dataloader' else pipeline[len(pipeline_head):]
        cfg[key] = loader
    for key in BUDGET_KEYS:
        if key in ref:
            cfg[key] = ref[key]
    cfg.val_evaluator = ref.val_evaluator
    cfg.test_evaluator = [e for e in ref.test_evaluator if e['type'] != 'KeypointSpreadMetric']
    cfg.custom_imports = ref.custom_imports
    cfg.data_root = ref.data_root
    return cfg


def simplebaseline_config(reference: Config) -> Config:
    """MMPose's SimpleBaseline3D on the reference's data and budget (its codec statistics from the data)."""
    mm = mmpose_config(MMPOSE_SIMPLEBASELINE)
    codec = dict(mm.codec, **lifting_stats(reference))
    return _baseline(mm, reference, codec, pipeline_head=[])


def videopose3d_config(reference: Config) -> Config:
    """MMPose's 27-frame VideoPose3D on the reference's data and budget (root-centred flip augmentation)."""
    mm = mmpose_config(MMPOSE_VIDEOPOSE3D)
    flip = [t for t in reference.train_pipeline if t['type'] == 'RandomFlipAroundRoot']
    return _baseline(mm, reference, mm.codec, pipeline_head=flip)


# ----------------------------------------------------------------------------------------------- runs
def test(cfg: Config, checkpoint: str, work_dir: str, name: str) -> Dict[str, float]:
    """Test ``checkpoint``; returns the metrics (m). A finished identical test is reused."""
    spread = any(e['type'] == 'KeypointSpreadMetric' for e in cfg.test_evaluator)
    return test_once(cfg, checkpoint, work_dir, name, needs=(SPREAD_CORR, ) if spread else ())


# ----------------------------------------------------------------------------------------------- table
def make_row(label: str, setting: str, per_seed: Dict[int, Dict[str, float]],
             reference: Optional[Dict[int, Dict[str, float]]]) -> dict:
    """``mean``/``std`` over seeds of each metric (mm; std with ddof=1, NaN for one seed) and the paired per-seed
    difference of MPJPE to ``reference`` (``diff``, ``diff_std``)."""
    seeds = sorted(per_seed)
    row = dict(label=label, setting=setting, seeds=seeds, metrics=per_seed, mean={}, std={})
    for m in METRICS + (SPREAD, SPREAD_CORR):
        unit = 1 if m == SPREAD_CORR else 1000
        # a metric missing, or NaN (stored as null by json_safe in a reused run.json), counts as NaN
        row['mean'][m], row['std'][m] = mean_std(
            [np.nan if per_seed[s].get(m) is None else per_seed[s][m] * unit for s in seeds])
    if reference is not None and reference is not per_seed:
        row['diff'], row['diff_std'] = mean_std([(per_seed[s]['MPJPE'] - reference[s]['MPJPE']) * 1000 for s in seeds])
        row['diff_pct'] = float(100 * np.mean([per_seed[s]['MPJPE'] / reference[s]['MPJPE'] - 1 for s in seeds]))
    return row


def format_table(rows: Sequence[dict], caption: str) -> str:
    head = ('Row', 'Setting') + tuple(
        f'{m} (mm)' for m in METRICS) + ('Δ MPJPE vs DiffPose-3D (mm)', 'Δ %', 'spread (mm)', 'corr(spread, error)')
    lines = []
    for r in rows:
        cells = [mean_std_cell(r['mean'][m], r['std'][m]) for m in METRICS]
        cells += [mean_std_cell(r['diff'], r['diff_std'], signed=True), f'{r["diff_pct"]:+.1f}'
                  ] if 'diff' in r else ['-', '-']
        cells.append(mean_std_cell(r['mean'][SPREAD]))
        corr = r['mean'][SPREAD_CORR]
        cells.append('n/a' if math.isnan(corr) else f'{corr:.2f}')
        lines.append([r['label'], r['setting']] + cells)
    return f'{caption}\n\n' + render_table(head, lines, align='ll' + 'r' * (len(head) - 2))


def ensure_data(args: argparse.Namespace) -> dict:
    """Generate the synthetic data at ``--data-root`` if missing; returns its generator record."""
    record = osp.join(args.data_root, 'synthetic_h36m.json')
    if not osp.isdir(args.data_root):
        from diffpose_mm.testing import make_synthetic_h36m
        print_log(f'[run_lifting_benchmark] generating synthetic data (seed {args.data_seed}) at {args.data_root}',
                  logger='current')
        make_synthetic_h36m(args.data_root, seed=args.data_seed)
    return load(record) if osp.isfile(record) else {}


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    start = time.time()
    data = ensure_data(args)
    os.makedirs(args.out_dir, exist_ok=True)
    results: Dict[str, dict] = {}  # row key -> label, setting, per-seed metrics

    def record(key: str, label: str, setting: str, seed: int, metrics: Dict[str, float]) -> None:
        results.setdefault(key, dict(label=label, setting=setting, per_seed={}))['per_seed'][seed] = metrics

    for seed in args.seeds:
        out = lambda *p: osp.join(args.out_dir, f'seed{seed}', *p)  # noqa: E731
        frame = reference_config(args.frame_config, args, seed)
        ckpt = train_once(frame, out('diffpose_frame'), 'diffpose_frame')
        record('diffpose_frame', 'DiffPose-3D', 'frame', seed,
               test(frame, ckpt, out('diffpose_frame', 'test'), 'diffpose_frame_test'))
        test_cfg = frame.model.test_cfg
        if 'simplebaseline' in args.only:
            cfg = simplebaseline_config(frame)
            record(
                'simplebaseline', 'SimpleBaseline3D (MMPose)', 'frame', seed,
                test(cfg, train_once(cfg, out('simplebaseline'), 'simplebaseline'), out('simplebaseline', 'test'),
                     'simplebaseline_test'))
        ss = args.gaussian_signal_scale
        ss = args.gaussian_signal_scale
        ablations = [('gaussian', 'DiffPose-3D, Gaussian prior N(0, I)', dict(prior_mode='gaussian')),
                     (f'gaussian_ss{ss:g}', f'DiffPose-3D, Gaussian prior N(0, I), signal scale {ss:g}',
                      dict(prior_mode='gaussian', signal_scale=ss)),
                     ('no_context', 'DiffPose-3D, no context conditioning', dict(use_context=False))]
        for key, label, options in ablations:
            if key.split('_ss')[0] not in args.only:
                continue
            cfg = head_config(frame, **options)
            ckpt_ablation = train_once(cfg, out(key), key)
            record(key, label, 'frame', seed, test(cfg, ckpt_ablation, out(key, 'test'), f'{key}_test'))
            one = test_config(cfg, sampling_steps=1)  # the setting that is best for MPJPE on the tuning data
            record(f'{key}_steps1', f'{label}, steps=1', 'frame', seed,
                   test(one, ckpt_ablation, out(key, 'steps1'), f'{key}_steps1'))
        variants = []  # (key, label, test_cfg change) of the reference checkpoint
        if 'init' in args.only:
            variants.append(('init', 'context encoder alone (initial pose, no diffusion)', dict(init_pose_only=True)))
        if 'flip' in args.only:
            variants.append(('flip', 'DiffPose-3D + flip test', dict(flip_test=True)))
        for n in args.noise_groups if 'noise_groups' in args.only else []:
            variants.append((f'N{n}', f'DiffPose-3D, N={n}', dict(num_noise_groups=n)))
        for k in args.sampling_steps if 'sampling_steps' in args.only else []:
            variants.append((f'steps{k}', f'DiffPose-3D, steps={k}', dict(sampling_steps=k)))
        for key, label, change in variants:
            if all(test_cfg.get(k) == v for k, v in change.items()):
                continue  # the reference's own setting: its row
            record(key, label, 'frame', seed,
                   test(test_config(frame, **change), ckpt, out('diffpose_frame', key), f'diffpose_frame_{key}'))
        if 'sequence' in args.only:
            seq = reference_config(args.sequence_config, args, seed)
            ckpt_seq = train_once(seq, out('diffpose_seq'), 'diffpose_seq')
            record('diffpose_seq', 'DiffPose-3D', 'sequence (27 frames)', seed,
                   test(seq, ckpt_seq, out('diffpose_seq', 'test'), 'diffpose_seq_test'))
            record(
                'diffpose_seq_steps1', 'DiffPose-3D, steps=1', 'sequence (27 frames)', seed,
                test(
                    test_config(seq, sampling_steps=1), ckpt_seq, out('diffpose_seq', 'steps1'), 'diffpose_seq_steps1'))
            cfg = videopose3d_config(seq)
            record(
                'videopose3d', 'VideoPose3D TCN (MMPose)', 'sequence (27 frames)', seed,
                test(cfg, train_once(cfg, out('videopose3d'), 'videopose3d'), out('videopose3d', 'test'),
                     'videopose3d_test'))

    rows = []
    for key, r in results.items():
        ref = results['diffpose_seq' if r['setting'].startswith('sequence') else 'diffpose_frame']['per_seed']
        rows.append(dict(make_row(r['label'], r['setting'], r['per_seed'], ref), key=key))
    rows.sort(key=lambda r: (r['setting'] != 'frame', r['key'] not in ('diffpose_frame', 'diffpose_seq')))
    frame = reference_config(args.frame_config, args, args.seeds[0])
    tc = frame.model.test_cfg
    caption = (
        f'Lifting on the synthetic Human3.6M-layout test split of {args.data_root} (data seed '
        f'{data.get("args", {}).get("seed", "?")}), {frame.train_cfg.max_epochs} epochs per training, '
        f'training seeds {", ".join(map(str, args.seeds))}: mean ± std over seeds; Δ = paired per-seed difference '
        f'to the DiffPose-3D row of the same setting. DiffPose-3D: N={tc.num_noise_groups}, '
        f'steps={tc.sampling_steps}, no flip test unless stated. {time.time() - start:.0f} s.')
    table = format_table(rows, caption)
    out_file = osp.join(args.out_dir, args.name)
    with open(f'{out_file}.md', 'w') as f:
        f.write(table + '\n')
    with open(f'{out_file}.json', 'w') as f:
        json.dump(json_safe(dict(caption=caption, args=vars(args), data=data, rows=rows)), f, indent=2)
    print_log(f'[run_lifting_benchmark] wrote {out_file}.md and {out_file}.json', logger='current')
    print(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
