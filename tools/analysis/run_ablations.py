"""Reproduce the DiffPose ablations (Feng et al., ICCV 2023, Tables 4-8) on the synthetic videos, over seeds.

Every variant is derived at run time from the tiny config
``configs/diffpose/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py`` (``--config``), so
later tuning of that file carries over. Rows of the printed table (``--only`` picks the experiments; the
reference ``DiffPose, δ=2`` is always trained):

- ``DiffPose, δ=2``: the config as it is (5-frame clips, STRLNeck, DiffPoseHead, its own N and steps).
- ``delta0``: ``STRL, δ=0``, single-frame clips (Table 8, δ=0 = Table 4(a)).
- ``heatmap_head``: ``HeatmapHead, δ=2``: same backbone and neck, MMPose's ``HeatmapHead`` (two stride-2
  deconvolutions, same codec, no diffusion): what the diffusion decoder adds over a plain heatmap regressor.
- ``paper``: ``Algorithm 1 (paper)``: the DiffPose head with the paper's / DiffusionDet's diffusion settings
  (signal scale 2 with clamping, uniform ``t``, BatchNorm, step only at the input, no self-conditioning or
  self-aligned draws, no auxiliary loss, no detached features).
- ``fixes``: for every diffusion fix the config uses (a head or schedule key that differs from ``paper``),
  one row with only that key set back to the paper's value (``--fixes KEY ...``: the rows of those keys only).
- ``direct_single`` / ``direct_multi``: Table 4 baselines, the noisy heatmap concatenated with the feature
  instead of LMSFI lookups, single-frame (δ=0) and with STRL (δ=2).
- ``regressor``: ``LMSFI regressor``: the same DiffPose head trained at ``t = T`` only (``last_step_prob=1``,
  its input heatmap is always pure noise) and tested with one step: an equal-capacity regressor, so the
  difference to the reference is what the diffusion (training on readable ``x_t``, several steps) adds, and
  the difference to ``heatmap_head`` what the LMSFI decoder adds.
- ``low_res`` / ``fusion``: Table 5, LMSFI at the low resolution only (without ``aux_loss``), and the three
  scales fused the other way than the config does (``scale_fusion``: the paper's sum, or concatenation +
  aggregation, ★).
- ``long_schedule``: DiffPose and HeatmapHead trained 3x longer (is the gap a budget effect?).
- ``mean_pose``: ``Mean pose in box``: no training, the floor the learned rows must clear (the mean training
  pose, normalised by each training GT box, placed into every test box with the box score).
- ``noise_groups`` (Table 6), ``sampling_steps`` (Table 7), ``eta``: the trained reference model tested again
  with other sampling settings, without retraining.
- ``aux_readout``: the trained reference model's auxiliary layer (a 1x1 convolution of its full-resolution
  feature ``F³``, trained by ``aux_loss``) as the prediction, without the denoiser: what the diffusion decoder
  adds over a linear read-out of its own feature.

Every training row is run for each of ``--seeds`` (``randomness.seed``); with several seeds a cell is
``mean ± std`` over seeds and the ``Δ`` columns give the paired per-seed difference to the reference row
(``mean ± std`` of ``row - reference`` on the same seed). Columns: PoseTrack per-joint AP (poseval protocol,
%), ``Total (degraded)``: Total over the blurred or occluded key frames only (``images[].degradation !=
'none'`` in the GT files), and COCO AP (x100). The last checkpoint of each training is tested (no validation
during training). Each run has its own work_dir ``<out-dir>/seed<S>/<run>``; a run whose work_dir already
holds a finished run of the same config is reused, so a second command that shares runs costs only the new
ones. The table is printed and written to ``<out-dir>/<name>.md`` and, with all metrics, ``<name>.json``.

Example::

    python tools/analysis/run_ablations.py --seeds 0 1 2 --only heatmap_head paper noise_groups
    python tools/analysis/run_ablations.py --only sampling_steps --epochs 10 \\
        --cfg-options train_dataloader.batch_size=8
"""
import argparse
import copy
import inspect
import json
import math
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.fileio import load
from mmengine.logging import print_log
from mmengine.registry import init_default_scope

from diffpose_mm.datasets.posetrack_format import POSETRACK_SUMMARY_KEYS
from diffpose_mm.models.diffusion.sampling_cfg import SAMPLING_KEYS, parse_sampling_cfg
from diffpose_mm.models.heads.baselines import heatmap_head_like, heatmap_test_cfg
from diffpose_mm.utils import json_safe, mean_std, mean_std_cell, render_table, with_data_root
from diffpose_mm.utils.cached_runs import test_once, train_once

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'diffpose', 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py')
EXPERIMENTS = ('delta0', 'heatmap_head', 'regressor', 'paper', 'fixes', 'direct_single', 'direct_multi', 'low_res',
               'fusion', 'long_schedule', 'mean_pose', 'noise_groups', 'sampling_steps', 'eta', 'aux_readout')
COLUMNS = POSETRACK_SUMMARY_KEYS + ('Total (degraded)', 'COCO AP')
DIFF_COLUMNS = ('Total', 'Total (degraded)')  # paired differences to the reference row
LONG_SCHEDULE = 3  # x the config's epochs
# The paper's diffusion settings (Algorithm 1 with DiffusionDet's signal space); the `paper` row sets them all,
# each `fixes` row one of them.
PAPER_HEAD = dict(signal_scale=2.0, input_mode='clamp', last_step_prob=0., heatmap_norm_cfg=dict(type='BN'),
                  step_condition='input', self_condition=False, num_train_draws=1, self_align_prob=0., aux_loss=None,
                  detach_features=False)
DIFFUSION_KEYS = ('signal_scale', 'input_mode', 'last_step_prob')  # live in model.head.diffusion
# What each `fixes` row sets back: the paper's diffusion settings, and PyTorch's default initialisation of the
# head (``init_cfg=[]``) that DiffPoseHead had before it took MMPose's HeatmapHead initialisation.
UNDO_FIXES = dict(PAPER_HEAD, init_cfg=[])


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='base config (DiffPose, δ=2)')
    parser.add_argument('--data-root', default='data/synthetic_posetrack18',
                        help='dataset root; the synthetic data is generated there if it does not exist')
    parser.add_argument('--out-dir', default='work_dirs/ablations', help='work dirs, table and json')
    parser.add_argument(
        '--name', default='ablations', help='the table is written to <out-dir>/<name>.md and .json '
        '(commands that share an --out-dir share its runs)')
    parser.add_argument('--epochs', type=int, help="training epochs (default: the config's); epoch-based "
                        'LR milestones are scaled with it')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0], help='randomness.seed of the runs: every '
                        'training row is trained once per seed')
    parser.add_argument('--only', nargs='*', choices=EXPERIMENTS, default=list(EXPERIMENTS),
                        help='experiments to run besides the δ=2 DiffPose reference (always trained)')
    parser.add_argument('--noise-groups', type=int, nargs='+', default=[1, 5, 10], help='N of Table 6')
    parser.add_argument('--sampling-steps', type=int, nargs='+', default=[1, 2, 4], help='steps of Table 7')
    parser.add_argument('--etas', type=float, nargs='+', default=[0., 1.], help='DDIM eta values')
    parser.add_argument('--fixes', nargs='+', choices=list(UNDO_FIXES), help='the `fixes` rows of these keys only '
                        '(default: of every fix the config uses)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='key=value overrides applied to every run (before the variant changes)')
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f'--epochs must be >= 1, got {args.epochs}')
    for name in ('noise_groups', 'sampling_steps'):
        if min(getattr(args, name)) < 1:
            parser.error(f'--{name.replace("_", "-")} values must be >= 1, got {getattr(args, name)}')
    if not all(0 <= eta <= 1 for eta in args.etas):
        parser.error(f'--etas values must be in [0, 1], got {args.etas}')
    if args.fixes and 'fixes' not in args.only:
        parser.error(f'--fixes {" ".join(args.fixes)} selects rows of the `fixes` experiment: add fixes to --only')
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must be distinct, got {args.seeds}')
    return args


# ----------------------------------------------------------------------------------------------- configs
def _set_key(node: Any, key: str, value: Any) -> int:
    """Set ``key`` to ``value`` in every dict of a config tree; returns how many were set."""
    count = 0
    if isinstance(node, dict):
        if key in node:
            node[key] = value
            count += 1
        for v in node.values():
            count += _set_key(v, key, value)
    elif isinstance(node, (list, tuple)):
        for v in node:
            count += _set_key(v, key, value)
    return count


def _set_epochs(cfg: Config, epochs: int) -> None:
    """Train ``epochs`` epochs, scaling the epoch-based LR schedule (milestones, begin/end) with it."""
    old = cfg.train_cfg.max_epochs
    cfg.train_cfg.max_epochs = epochs
    if 'max_epochs' in cfg:
        cfg.max_epochs = epochs
    schedulers = cfg.get('param_scheduler') or []
    for sched in schedulers if isinstance(schedulers, list) else [schedulers]:
        if not sched.get('by_epoch', True):
            continue
        if 'milestones' in sched:
            sched['milestones'] = [max(1, round(m * epochs / old)) for m in sched['milestones']]
        for key in ('begin', 'end'):
            if key in sched and math.isfinite(sched[key]):
                sched[key] = min(epochs, round(sched[key] * epochs / old))


def base_config(args: argparse.Namespace, seed: Optional[int] = None) -> Config:
    """The config with ``--data-root``, ``--cfg-options``, ``--epochs`` and ``seed`` (default: the first of
    ``--seeds``) applied; no validation during training (the last checkpoint is tested)."""
    cfg = with_data_root(Config.fromfile(args.config), args.data_root)
    cfg.merge_from_dict(args.cfg_options)
    if args.epochs is not None:
        _set_epochs(cfg, args.epochs)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seeds[0] if seed is None else seed)
    return cfg


def delta0_config(cfg: Config) -> Config:
    """Single-frame clips: ``num_adjacent=0`` in every dataset, ``neck.num_frames=1``."""
    cfg = copy.deepcopy(cfg)
    found = sum(
        _set_key(cfg[k], 'num_adjacent', 0) for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
        if k in cfg)
    if not found:
        raise ValueError(f'{cfg.filename}: no dataset has a `num_adjacent` option to set δ=0')
    if 'num_adjacent' in cfg:
        cfg.num_adjacent = 0
    if cfg.model.get('neck') is not None and 'num_frames' in cfg.model.neck:
        cfg.model.neck.num_frames = 1
    return cfg


def heatmap_head_config(cfg: Config) -> Config:
    """``model.head`` -> MMPose ``HeatmapHead`` with the same channels, codec and loss, and no diffusion
    (``diffpose_mm.models.heads.baselines``, the baseline ``benchmark_inference.py`` times too)."""
    cfg = copy.deepcopy(cfg)
    cfg.model.head = heatmap_head_like(cfg.model.head)
    cfg.model.test_cfg = heatmap_test_cfg(cfg.model.get('test_cfg'))
    return single_setting_test(cfg)


def head_config(cfg: Config, **options) -> Config:
    """``cfg`` with ``model.head`` options changed; the keys of ``DIFFUSION_KEYS`` go to ``model.head.diffusion``."""
    cfg = copy.deepcopy(cfg)
    head = cfg.model.head
    if head.get('type') != 'DiffPoseHead':
        raise ValueError(f'{cfg.filename}: model.head is {head.get("type")}, the head variants need DiffPoseHead')
    for key, value in options.items():
        if key in DIFFUSION_KEYS:
            head.diffusion = dict(head.get('diffusion') or {}, **{key: value})
        else:
            head[key] = copy.deepcopy(value)
    return cfg


def head_value(cfg: Config, key: str) -> Any:
    """The value of a head key (e.g. of ``PAPER_HEAD``) in ``cfg`` (the head's or GaussianDiffusion's default when
    unset)."""
    from diffpose_mm.models.diffusion import GaussianDiffusion
    from diffpose_mm.models.heads import DiffPoseHead
    owner, node = (GaussianDiffusion, cfg.model.head.get('diffusion') or {}) if key in DIFFUSION_KEYS else \
        (DiffPoseHead, cfg.model.head)
    if key in node:
        return node[key]
    return inspect.signature(owner.__init__).parameters[key].default


def fix_configs(cfg: Config, undo: Optional[dict] = None, keys: Optional[Sequence[str]] = None) -> List[tuple]:
    """``(key, config)`` for every key of ``undo`` (default ``UNDO_FIXES``; only ``keys`` when given) whose value
    in ``cfg`` differs: the config with only that key set back."""
    undo = UNDO_FIXES if undo is None else undo
    return [(key, head_config(cfg, **{key: value})) for key, value in undo.items()
            if (keys is None or key in keys) and head_value(cfg, key) != value]


def regressor_config(cfg: Config) -> Config:
    """The DiffPose head as a regressor of equal capacity: every training draw at ``t = T-1`` (pure noise in, the
    heatmap out, nothing readable to copy) and one sampling step, which starts there."""
    return sampling_config(head_config(cfg, last_step_prob=1.), dict(sampling_steps=1))


def long_config(cfg: Config) -> Config:
    """``cfg`` trained ``LONG_SCHEDULE`` times longer (LR milestones scaled)."""
    cfg = copy.deepcopy(cfg)
    _set_epochs(cfg, cfg.train_cfg.max_epochs * LONG_SCHEDULE)
    return cfg


def training_rows(cfg: Config, only: Sequence[str], fixes: Optional[Sequence[str]] = None) -> List[tuple]:
    """``(run name, row label, paper reference, config)`` of every training run of one seed, reference first
    (``fixes``: the keys of the ``fixes`` rows, default all)."""
    runs = [('delta2', 'DiffPose, δ=2', 'Tab. 4(b), 8', cfg)]
    if 'delta0' in only:
        runs.append(('delta0', 'STRL, δ=0', 'Tab. 8 (4(a))', delta0_config(cfg)))
    if 'heatmap_head' in only:
        runs.append(('heatmap_head', 'HeatmapHead, δ=2', '- (no diffusion)', heatmap_head_config(cfg)))
    if 'regressor' in only:
        runs.append(('regressor', 'LMSFI regressor (t = T only, 1 step)', '- (no diffusion)', regressor_config(cfg)))
    if 'paper' in only and fix_configs(cfg, PAPER_HEAD):  # else the reference already is the paper's setting
        runs.append(('paper', 'Algorithm 1 (paper settings)', 'Alg. 1', head_config(cfg, **PAPER_HEAD)))
    if 'fixes' in only:
        for key, fix_cfg in fix_configs(cfg, keys=fixes):
            label = 'PyTorch default init' if key == 'init_cfg' else f'{key}={UNDO_FIXES[key]} (paper)'
            runs.append((f'undo_{key}', label, '- (one fix undone)', fix_cfg))
    if 'direct_single' in only:
        runs.append(('direct_single', 'Direct-single', 'Tab. 4', delta0_config(head_config(cfg, interaction='concat'))))
    if 'direct_multi' in only:
        runs.append(('direct_multi', 'Direct-multi', 'Tab. 4, Fig. 4', head_config(cfg, interaction='concat')))
    if 'low_res' in only:
        # no full-resolution feature left to supervise: the auxiliary loss goes too
        runs.append(('low_res', 'Low-resolution LMSFI', 'Tab. 5', head_config(cfg, num_scales=1, aux_loss=None)))
    if 'fusion' in only:
        other = 'sum' if head_value(cfg, 'scale_fusion') == 'concat' else 'concat'
        label = 'LMSFI, concat fusion ★' if other == 'concat' else 'LMSFI, sum fusion (paper)'
        runs.append((f'{other}_fusion', label, 'Tab. 5', head_config(cfg, scale_fusion=other)))
    if 'long_schedule' in only:
        runs.append(('delta2_long', f'DiffPose, {LONG_SCHEDULE}x schedule', '- (budget)', long_config(cfg)))
        runs.append(('heatmap_head_long', f'HeatmapHead, {LONG_SCHEDULE}x schedule', '- (budget)',
                     long_config(heatmap_head_config(cfg))))
    return runs


def single_setting_test(cfg: Config) -> Config:
    """``cfg`` whose test runs one setting (``model.test_cfg``): a ``SamplingSweepTestLoop`` becomes MMEngine's."""
    if cfg.get('test_cfg', {}).get('type') == 'SamplingSweepTestLoop':
        cfg.test_cfg = dict()
    return cfg


def default_sampling(cfg: Config) -> Dict[str, Any]:
    """The sampling settings a test of ``cfg`` uses: ``model.test_cfg``, the keys it leaves out at the head's
    defaults (``parse_sampling_cfg``)."""
    settings = {k: v for k, v in cfg.model.get('test_cfg', {}).items() if k in SAMPLING_KEYS}
    for key in ('num_noise_groups', 'sampling_steps'):
        if key not in settings:
            raise ValueError(f'{cfg.filename}: model.test_cfg has no `{key}`; is the head a DiffPoseHead?')
    return parse_sampling_cfg(settings, owner=cfg.filename)


def sampling_config(cfg: Config, settings: Dict[str, Any]) -> Config:
    """``cfg`` testing with ``settings`` (in ``model.test_cfg``, the one place the head reads them)."""
    cfg = single_setting_test(copy.deepcopy(cfg))
    cfg.model.test_cfg.update(settings)
    return cfg


def _with_results_file(cfg: Config, work_dir: str) -> Config:
    """``cfg`` whose evaluators keep their prediction files in ``work_dir`` (``results*``)."""
    cfg = copy.deepcopy(cfg)
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
    for evaluator in evaluators:
        if 'outfile_prefix' in evaluator or evaluator.get('type') in ('PoseTrackMetric', 'CocoMetric'):
            evaluator['outfile_prefix'] = osp.join(work_dir, 'results')
    return cfg


# ------------------------------------------------------------------------------------------------- runs
def test(cfg: Config, checkpoint: str, work_dir: str, name: str) -> Dict[str, float]:
    """Test ``checkpoint``; returns the runner's metrics plus ``posetrack/Total (degraded)``. A finished test
    of the same config and checkpoint in ``work_dir`` is reused."""
    return test_once(
        _with_results_file(cfg, work_dir), checkpoint, work_dir, name,
        evaluate=lambda runner: with_degraded_total(runner.test(), runner.test_loop.evaluator))


def _dataset_infos(cfg: Config, loader: str) -> tuple:
    """``(data infos, metainfo)`` of ``cfg[loader].dataset`` without running its pipeline (no images read)."""
    from mmpose.registry import DATASETS
    dataset_cfg = copy.deepcopy(cfg[loader].dataset)
    dataset_cfg.pipeline = []
    dataset = DATASETS.build(dataset_cfg)
    return [dataset.get_data_info(i) for i in range(len(dataset))], dataset.metainfo


def mean_box_pose(train_infos: Sequence[dict]) -> np.ndarray:
    """Mean pose ``(K, 2)`` in box coordinates (``(0, 0)`` top-left, ``(1, 1)`` bottom-right of the box).

    Every visible keypoint of a training annotation is normalised by that annotation's GT box (``bbox``
    (1, 4) xyxy); joints never visible get the box centre.
    """
    total = counts = 0
    for info in train_infos:
        x1, y1, x2, y2 = np.asarray(info['bbox'], dtype=np.float64).reshape(4)
        size = np.maximum([x2 - x1, y2 - y1], 1e-6)
        kpts = (np.asarray(info['keypoints'], dtype=np.float64).reshape(-1, 2) - [x1, y1]) / size
        visible = np.asarray(info['keypoints_visible'], dtype=np.float64).reshape(-1, 1) > 0
        total = total + np.where(visible, kpts, 0.)
        counts = counts + visible
    if not train_infos:
        raise ValueError('mean pose in box: the training dataset has no annotations')
    return np.where(counts > 0, total / np.maximum(counts, 1), 0.5)


def mean_pose_in_box(cfg: Config, work_dir: str) -> Dict[str, float]:
    """Metrics of the trivial predictor: the mean training pose placed into every test box.

    The training annotations come from ``cfg.train_dataloader.dataset``, the boxes (GT or ``bbox_file``
    detections, as the models are tested) from ``cfg.test_dataloader.dataset``; keypoint scores are the box
    score. Scored by ``cfg.test_evaluator`` with ``outfile_prefix=<work_dir>/results``, exactly as a trained
    model's predictions (same OKS-NMS, PoseTrack AP and COCO AP), plus ``posetrack/Total (degraded)``.
    """
    from mmengine.evaluator import Evaluator

    import diffpose_mm  # noqa: F401  (registers the datasets and PoseTrackMetric)
    print_log(f'[run_ablations] mean pose in box in {work_dir}', logger='current')
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    os.makedirs(work_dir, exist_ok=True)
    cfg = _with_results_file(cfg, work_dir)
    pose = mean_box_pose(_dataset_infos(cfg, 'train_dataloader')[0])
    test_infos, metainfo = _dataset_infos(cfg, 'test_dataloader')
    data_samples = []
    for info in test_infos:
        x1, y1, x2, y2 = np.asarray(info['bbox'], dtype=np.float32).reshape(4)
        score = np.asarray(info['bbox_score'], dtype=np.float32).reshape(1)
        keypoints = (np.array([x1, y1]) + pose * np.array([x2 - x1, y2 - y1])).astype(np.float32)[None]
        sample = dict(id=info['id'], img_id=info['img_id'], img_path=info['img_path'],
                      category_id=int(info.get('category_id', 1)),
                      pred_instances=dict(keypoints=keypoints, keypoint_scores=np.repeat(score, len(pose))[None]),
                      gt_instances=dict(bbox_scores=score))
        if 'raw_ann_info' in info:  # GT boxes: lets a metric without ann_file build its COCO GT
            sample['raw_ann_info'] = info['raw_ann_info']
        data_samples.append(sample)
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = metainfo
    evaluator.process(data_samples)
    metrics = with_degraded_total(evaluator.evaluate(len(data_samples)), evaluator)
    print_log('[run_ablations] mean pose in box: ' + ', '.join(f'{k}={v:.4f}' for k, v in metrics.items()),
              logger='current')
    return metrics


def with_degraded_total(metrics: Dict[str, float], evaluator) -> Dict[str, float]:
    """``metrics`` as floats plus ``posetrack/Total (degraded)`` from the prediction files that the evaluator's
    PoseTrack metric wrote (NaN without one)."""
    metrics = {k: float(v) for k, v in metrics.items()}
    metrics['posetrack/Total (degraded)'] = float('nan')
    for metric in evaluator.metrics:
        if hasattr(metric, 'gt_dir') and getattr(metric, 'outfile_prefix', None):
            metrics['posetrack/Total (degraded)'] = degraded_total(metric.gt_dir, f'{metric.outfile_prefix}.posetrack')
    return metrics


def degraded_total(gt_dir: str, pred_dir: str) -> float:
    """PoseTrack Total AP over the GT frames whose ``degradation`` is not ``'none'`` (NaN if there are none)."""
    from diffpose_mm.evaluation.functional import (list_posetrack_files, load_posetrack_dir, posetrack_joint_ap,
                                                   summarize_posetrack_ap)
    degraded = set()
    for name in list_posetrack_files(gt_dir):
        for image in load(osp.join(gt_dir, name)).get('images', []):
            if image.get('degradation', 'none') != 'none':
                degraded.add(image['id'])
    gt, pred = load_posetrack_dir(gt_dir, pred_dir)
    keep = [i for i, frame in enumerate(gt) if frame['image_id'] in degraded and frame.get('is_labeled', True)]
    if not keep:
        return float('nan')
    joint_ap = posetrack_joint_ap([gt[i] for i in keep], [pred[i] for i in keep])
    return summarize_posetrack_ap(joint_ap)['Total']


# ------------------------------------------------------------------------------------------------ table
def _values(metrics: Dict[str, float]) -> Dict[str, float]:
    """Table columns of one run's metrics (AP in %, COCO AP x100)."""
    values = {c: metrics.get(f'posetrack/{c}', float('nan')) for c in POSETRACK_SUMMARY_KEYS}
    values['Total (degraded)'] = metrics.get('posetrack/Total (degraded)', float('nan'))
    values['COCO AP'] = metrics.get('coco/AP', float('nan')) * 100
    return values


def make_row(name: str, paper: str, per_seed: Dict[int, Dict[str, float]],
             reference: Optional[Dict[int, Dict[str, float]]] = None, **extra) -> dict:
    """One table row from the metrics of each seed: ``values`` and ``std`` per column (over seeds; std with
    ``ddof=1``, NaN for one seed) and, against the reference row's metrics of the same seeds, ``diff`` and
    ``diff_std`` of the paired per-seed differences in ``DIFF_COLUMNS``."""
    seeds = sorted(per_seed)
    table = {s: _values(per_seed[s]) for s in seeds}
    row = dict(name=name, paper=paper, seeds=seeds, per_seed=table, metrics=per_seed, values={}, std={}, diff={},
               diff_std={}, **extra)
    for col in COLUMNS:
        row['values'][col], row['std'][col] = mean_std([table[s][col] for s in seeds])
    if reference is not None and reference is not per_seed:
        for col in DIFF_COLUMNS:
            row['diff'][col], row['diff_std'][col] = mean_std(
                [table[s][col] - _values(reference[s])[col] for s in seeds])
    return row


def format_table(rows: Sequence[dict], caption: str) -> str:
    """Markdown table: ``Row | Paper | Head ... Total | Total (degraded) | COCO AP | Δ Total | Δ degraded``;
    ``Total`` and ``Total (degraded)`` carry ``± std`` over seeds, the Δ columns the paired difference to the
    first row (``mean ± std`` over seeds)."""
    head = ('Row', 'Paper') + COLUMNS + ('Δ Total', 'Δ degraded')
    lines = []
    for row in rows:
        cells = [mean_std_cell(row['values'][c], row['std'][c] if c in DIFF_COLUMNS else float('nan')) for c in COLUMNS]
        cells += [
            mean_std_cell(row['diff'][c], row['diff_std'][c], signed=True) if c in row['diff'] else '-'
            for c in DIFF_COLUMNS
        ]
        lines.append([row['name'], row['paper']] + cells)
    return f'{caption}\n\n' + render_table(head, lines, align='ll' + 'r' * (len(head) - 2))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.isdir(args.data_root):
        from diffpose_mm.testing import make_synthetic_posetrack
        print_log(f'[run_ablations] {args.data_root} does not exist: generating the synthetic data there',
                  logger='current')
        make_synthetic_posetrack(args.data_root)
    os.makedirs(args.out_dir, exist_ok=True)
    default = default_sampling(base_config(args))
    N, steps = default['num_noise_groups'], default['sampling_steps']
    sampling = []  # (experiment, label, paper, settings) of the test-time rows
    for n in args.noise_groups if 'noise_groups' in args.only else []:
        sampling.append(('noise_groups', f'N={n}', 'Tab. 6', dict(num_noise_groups=n)))
    for k in args.sampling_steps if 'sampling_steps' in args.only else []:
        sampling.append(('sampling_steps', f'Steps={k}', 'Tab. 7', dict(sampling_steps=k)))
    for eta in args.etas if 'eta' in args.only else []:
        sampling.append(('eta', f'eta={eta:g}', '- (DDIM)', dict(eta=eta)))
    if 'aux_readout' in args.only:
        sampling.append(('aux_readout', 'Read-out of F³ (aux layer)', '- (no denoiser)', dict(aux_readout=True)))

    results: Dict[str, dict] = {}  # run name -> dict(label, paper, per_seed metrics)
    for seed in args.seeds:
        cfg = base_config(args, seed)
        out = lambda *parts: osp.join(args.out_dir, f'seed{seed}', *parts)  # noqa: E731
        ckpts = {}
        for name, label, paper, run_cfg in training_rows(cfg, args.only, args.fixes):
            ckpts[name] = train_once(run_cfg, out(name), name)  # reused when finished
            metrics = test(run_cfg, ckpts[name], out(name, 'test'), f'{name}_test')
            results.setdefault(name, dict(label=label, paper=paper, per_seed={}))['per_seed'][seed] = metrics
        for _, label, paper, change in sampling:
            settings = dict(default, **change)
            key = 'sampling_' + '_'.join(f'{k}{v:g}' for k, v in sorted(change.items()))
            if settings == default:  # the reference setting is the reference test
                metrics = results['delta2']['per_seed'][seed]
            else:
                metrics = test(sampling_config(cfg, settings), ckpts['delta2'], out('delta2', key), key)
            label += ', DiffPose' if settings == default else ''
            results.setdefault(key, dict(label=label, paper=paper, per_seed={}, settings=settings))
            results[key]['per_seed'][seed] = metrics
        if 'mean_pose' in args.only and seed == args.seeds[0]:  # no training: the same for every seed
            results['mean_pose'] = dict(label='Mean pose in box', paper='- (no training)',
                                        per_seed={seed: mean_pose_in_box(cfg, out('mean_pose'))})

    reference = results['delta2']['per_seed']
    rows = [
        make_row(r['label'], r['paper'], r['per_seed'], reference if key != 'mean_pose' else None, run=key,
                 settings=r.get('settings', default)) for key, r in results.items()
    ]
    seeds = ', '.join(map(str, args.seeds))
    caption = (f'DiffPose ablations on {args.data_root} ({base_config(args).train_cfg.max_epochs} epochs per '
               f'training; seeds {seeds}: Total and Total (degraded) are mean ± std over seeds, other columns '
               f'means; Δ = paired per-seed difference to the first row; N={N}, Steps={steps} unless stated). '
               'PoseTrack AP (%); Total (degraded): key frames with blur/occlusion only; COCO AP x100.')
    table = format_table(rows, caption)
    out_file = osp.join(args.out_dir, args.name)
    with open(f'{out_file}.md', 'w') as f:
        f.write(table + '\n')
    with open(f'{out_file}.json', 'w') as f:
        json.dump(json_safe(dict(caption=caption, config=args.config, args=vars(args), rows=rows)), f, indent=2)
    print_log(f'[run_ablations] wrote {out_file}.md and {out_file}.json', logger='current')
    print(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
