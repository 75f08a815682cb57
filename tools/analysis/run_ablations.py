"""Reproduce the DiffPose ablations (Feng et al., ICCV 2023, Tables 4, 6, 7, 8) on the synthetic videos.

Every variant is derived at run time from ``configs/diffpose/diffpose_tiny_synthetic.py`` (``--config``), so
later tuning of that file carries over. Rows of the printed table:

- ``DiffPose, δ=2``: the config as it is (5-frame clips, STRLNeck, DiffPoseHead, its own N and steps);
  the full model of Tables 4(b), 6, 7 and 8.
- ``STRL, δ=0``: the same training with single-frame clips (``num_adjacent=0``, ``neck.num_frames=1``);
  Table 8, δ=0 (= Table 4(a): LMSFI without spatiotemporal cues).
- ``HeatmapHead, δ=2``: same backbone and neck, ``model.head`` swapped for MMPose's ``HeatmapHead`` (two
  stride-2 deconvolutions = the 4x upsampling of DiffPoseHead, same codec, no diffusion); not in the paper,
  it isolates what the diffusion decoder adds over a plain heatmap regressor.
- ``Mean pose in box``: no training, the floor the learned rows must clear. The mean training pose, with
  keypoints normalised by the GT box of each training annotation, is placed into every test box (the
  config's test detections) with keypoint scores = box score, and scored by the config's test metric.
- ``N=1 / 5 / 10`` (Table 6) and ``Steps=1 / 2 / 4`` (Table 7): the trained δ=2 model tested again with
  other sampling settings, without retraining (the other setting stays at the config's value).

Columns: PoseTrack per-joint AP (poseval protocol, %), ``Total (degraded)``: Total over the blurred or
occluded key frames only (images[].degradation != 'none' in the GT files), and COCO AP (x100).
The last checkpoint of each training is tested. Each run has its own work_dir under ``--out-dir``; the
table is printed and written to ``<out-dir>/ablations.md`` and, with all metrics, ``ablations.json``.

Example::

    python tools/analysis/run_ablations.py                       # everything, config epochs
    python tools/analysis/run_ablations.py --only noise_groups sampling_steps --epochs 10 \\
        --cfg-options train_dataloader.batch_size=8
"""
import argparse
import copy
import gc
import json
import math
import os
import os.path as osp
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.fileio import load
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from diffpose_mm.engine.hooks.diffusion_sampling_hook import SAMPLING_KEYS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'diffpose', 'diffpose_tiny_synthetic.py')
EXPERIMENTS = ('delta0', 'heatmap_head', 'mean_pose', 'noise_groups', 'sampling_steps')
POSETRACK_COLUMNS = ('Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Total')
COLUMNS = POSETRACK_COLUMNS + ('Total (degraded)', 'COCO AP')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='base config (DiffPose, δ=2)')
    parser.add_argument('--data-root', default='data/synthetic_posetrack18',
                        help='dataset root; the synthetic data is generated there if it does not exist')
    parser.add_argument('--out-dir', default='work_dirs/ablations', help='work dirs, table and json')
    parser.add_argument('--epochs', type=int, help="training epochs (default: the config's); epoch-based "
                        'LR milestones are scaled with it')
    parser.add_argument('--seed', type=int, default=0, help='randomness.seed of every run')
    parser.add_argument('--only', nargs='+', choices=EXPERIMENTS, default=list(EXPERIMENTS),
                        help='experiments to run besides the δ=2 DiffPose reference (always trained)')
    parser.add_argument('--noise-groups', type=int, nargs='+', default=[1, 5, 10], help='N of Table 6')
    parser.add_argument('--sampling-steps', type=int, nargs='+', default=[1, 2, 4], help='steps of Table 7')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='key=value overrides applied to every run (before the variant changes)')
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f'--epochs must be >= 1, got {args.epochs}')
    for name in ('noise_groups', 'sampling_steps'):
        if min(getattr(args, name)) < 1:
            parser.error(f'--{name.replace("_", "-")} values must be >= 1, got {getattr(args, name)}')
    return args


# ----------------------------------------------------------------------------------------------- configs
def _replace_prefix(node: Any, old: str, new: str) -> Any:
    """Copy of a config tree where every string starting with ``old`` starts with ``new`` instead."""
    if isinstance(node, str):
        return new + node[len(old):] if node.startswith(old) else node
    if isinstance(node, dict):
        return type(node)({k: _replace_prefix(v, old, new) for k, v in node.items()})
    if isinstance(node, (list, tuple)):
        return type(node)(_replace_prefix(v, old, new) for v in node)
    return node


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


def base_config(args: argparse.Namespace) -> Config:
    """The config with ``--data-root``, ``--cfg-options``, ``--epochs`` and ``--seed`` applied."""
    cfg = Config.fromfile(args.config)
    if 'data_root' not in cfg:
        raise ValueError(f'{args.config}: expected a top-level `data_root` to replace with --data-root')
    cfg = Config(_replace_prefix(cfg.to_dict(), cfg.data_root, args.data_root.rstrip('/') + '/'),
                 filename=cfg.filename)
    cfg.merge_from_dict(args.cfg_options)
    if args.epochs is not None:
        _set_epochs(cfg, args.epochs)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    return cfg


def delta0_config(cfg: Config) -> Config:
    """Single-frame clips: ``num_adjacent=0`` in every dataset, ``neck.num_frames=1``."""
    cfg = copy.deepcopy(cfg)
    found = sum(_set_key(cfg[k], 'num_adjacent', 0)
                for k in ('train_dataloader', 'val_dataloader', 'test_dataloader') if k in cfg)
    if not found:
        raise ValueError(f'{cfg.filename}: no dataset has a `num_adjacent` option to set δ=0')
    if 'num_adjacent' in cfg:
        cfg.num_adjacent = 0
    if cfg.model.get('neck') is not None and 'num_frames' in cfg.model.neck:
        cfg.model.neck.num_frames = 1
    return cfg


def heatmap_head_config(cfg: Config) -> Config:
    """``model.head`` -> MMPose ``HeatmapHead`` with the same channels, codec and loss, and no diffusion."""
    cfg = copy.deepcopy(cfg)
    head = cfg.model.head
    widths = tuple(head.get('feat_channels', (256, 128, 64)))
    cfg.model.head = dict(
        type='HeatmapHead',
        in_channels=head.in_channels,
        out_channels=head.out_channels,
        # DiffPoseHead's heatmaps are 4x its feature map: two stride-2 deconvolutions, with the widths of
        # DiffPoseHead's 2x and 4x feature maps
        deconv_out_channels=widths[1:3],
        deconv_kernel_sizes=(4, 4),
        loss=head.get('loss', dict(type='KeypointMSELoss', use_target_weight=True)),
        decoder=head.decoder)
    cfg.model.test_cfg = {k: v for k, v in cfg.model.get('test_cfg', {}).items() if k not in SAMPLING_KEYS}
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') != 'DiffusionSamplingHook']
    return cfg


def default_sampling(cfg: Config) -> Dict[str, Any]:
    """The sampling settings a test of ``cfg`` uses: ``model.test_cfg`` updated by DiffusionSamplingHook."""
    settings = {k: v for k, v in cfg.model.get('test_cfg', {}).items() if k in SAMPLING_KEYS}
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == 'DiffusionSamplingHook':
            settings.update({k: hook[k] for k in SAMPLING_KEYS if hook.get(k) is not None})
            if hook.get('sweep'):
                entry = hook['sweep'][0]
                settings.update(entry if isinstance(entry, dict) else
                                dict(num_noise_groups=entry[0], sampling_steps=entry[1]))
    for key in ('num_noise_groups', 'sampling_steps'):
        if key not in settings:
            raise ValueError(f'{cfg.filename}: model.test_cfg has no `{key}`; is the head a DiffPoseHead?')
    return settings


def sampling_config(cfg: Config, settings: Dict[str, Any]) -> Config:
    """``cfg`` testing with ``settings`` (written to ``model.test_cfg`` and any DiffusionSamplingHook)."""
    cfg = copy.deepcopy(cfg)
    cfg.model.test_cfg.update(settings)
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == 'DiffusionSamplingHook':
            hook.update(settings, sweep=None)
    return cfg


def _run_config(cfg: Config, work_dir: str, name: str) -> Config:
    """``cfg`` with its own work_dir, experiment/visualizer names and kept prediction files."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.experiment_name = name  # distinct loggers/visualizers for runners started in the same second
    if cfg.get('visualizer') is not None:
        cfg.visualizer.name = f'visualizer_{name}_{time.time_ns()}'
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
    for evaluator in evaluators:
        if 'outfile_prefix' in evaluator or evaluator.get('type') in ('PoseTrackMetric', 'CocoMetric'):
            evaluator['outfile_prefix'] = osp.join(work_dir, 'results')
    return cfg


# ------------------------------------------------------------------------------------------------- runs
def train(cfg: Config, work_dir: str, name: str) -> str:
    """Train ``cfg`` in ``work_dir``; returns the last checkpoint."""
    print_log(f'[run_ablations] training {name} in {work_dir}', logger='current')
    runner = Runner.from_cfg(_run_config(cfg, work_dir, name))
    runner.train()
    del runner
    gc.collect()
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def test(cfg: Config, checkpoint: str, work_dir: str, name: str) -> Dict[str, float]:
    """Test ``checkpoint``; returns the runner's metrics plus ``posetrack/Total (degraded)``."""
    print_log(f'[run_ablations] testing {name} ({checkpoint}) in {work_dir}', logger='current')
    cfg = _run_config(cfg, work_dir, name)
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    metrics = with_degraded_total(runner.test(), runner.test_loop.evaluator)
    print_log(f'[run_ablations] {name}: ' + ', '.join(f'{k}={v:.4f}' for k, v in metrics.items()),
              logger='current')
    del runner
    gc.collect()
    return metrics


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
    cfg = _run_config(cfg, work_dir, 'mean_pose')
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
    from diffpose_mm.evaluation.functional import (list_posetrack_files, load_posetrack_dir,
                                                   posetrack_joint_ap, summarize_posetrack_ap)
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
def _row(name: str, paper: str, metrics: Dict[str, float], **extra) -> dict:
    values = {c: metrics.get(f'posetrack/{c}', float('nan')) for c in POSETRACK_COLUMNS}
    values['Total (degraded)'] = metrics.get('posetrack/Total (degraded)', float('nan'))
    values['COCO AP'] = metrics.get('coco/AP', float('nan')) * 100
    return dict(name=name, paper=paper, values=values, metrics=metrics, **extra)


def _json_safe(node: Any) -> Any:
    """NaN -> None (valid json), tuples -> lists, other objects -> str."""
    if isinstance(node, float):
        return None if math.isnan(node) else node
    if isinstance(node, dict):
        return {str(k): _json_safe(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_json_safe(v) for v in node]
    return node if node is None or isinstance(node, (str, int, bool)) else str(node)


def format_table(rows: Sequence[dict], caption: str) -> str:
    """Markdown table: one row per experiment, columns ``Row | Paper | Head ... Total | ... | COCO AP``."""
    lines = [caption, '', '| ' + ' | '.join(('Row', 'Paper') + COLUMNS) + ' |',
             '|' + '---|' * 2 + '---:|' * len(COLUMNS)]
    for row in rows:
        cells = ['n/a' if math.isnan(row['values'][c]) else f'{row["values"][c]:.1f}' for c in COLUMNS]
        lines.append('| ' + ' | '.join([row['name'], row['paper']] + cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.isdir(args.data_root):
        from diffpose_mm.datasets import make_synthetic_posetrack
        print_log(f'[run_ablations] {args.data_root} does not exist: generating the synthetic data there',
                  logger='current')
        make_synthetic_posetrack(args.data_root)
    os.makedirs(args.out_dir, exist_ok=True)
    cfg = base_config(args)
    default = default_sampling(cfg)
    N, steps = default['num_noise_groups'], default['sampling_steps']
    out = lambda *parts: osp.join(args.out_dir, *parts)  # noqa: E731
    rows = []

    ckpt = train(cfg, out('delta2'), 'delta2')
    tested = {(N, steps): test(cfg, ckpt, out('delta2', 'test'), 'delta2_test')}
    rows.append(_row('DiffPose, δ=2', 'Tab. 4(b), 8', tested[(N, steps)], settings=default))
    if 'delta0' in args.only:
        cfg0 = delta0_config(cfg)
        ckpt0 = train(cfg0, out('delta0'), 'delta0')
        rows.append(_row('STRL, δ=0', 'Tab. 8 (4(a))', test(cfg0, ckpt0, out('delta0', 'test'), 'delta0_test')))
    if 'heatmap_head' in args.only:
        cfg_hm = heatmap_head_config(cfg)
        ckpt_hm = train(cfg_hm, out('heatmap_head'), 'heatmap_head')
        rows.append(_row('HeatmapHead, δ=2', '- (no diffusion)',
                         test(cfg_hm, ckpt_hm, out('heatmap_head', 'test'), 'heatmap_head_test')))
    if 'mean_pose' in args.only:
        rows.append(_row('Mean pose in box', '- (no training)', mean_pose_in_box(cfg, out('mean_pose'))))
    sweeps = [('noise_groups', 'Tab. 6', [(n, steps) for n in args.noise_groups]),
              ('sampling_steps', 'Tab. 7', [(N, s) for s in args.sampling_steps])]
    for experiment, paper, settings in sweeps:
        if experiment not in args.only:
            continue
        for n, s in settings:
            if (n, s) not in tested:
                name = f'delta2_test_N{n}_steps{s}'
                tested[(n, s)] = test(sampling_config(cfg, dict(num_noise_groups=n, sampling_steps=s)), ckpt,
                                      out('delta2', name), name)
            label = f'N={n}' if experiment == 'noise_groups' else f'Steps={s}'
            label += ', DiffPose' if (n, s) == (N, steps) else ''
            rows.append(_row(label, paper, tested[(n, s)],
                             settings=dict(default, num_noise_groups=n, sampling_steps=s)))

    caption = (f'DiffPose ablations on {args.data_root} ({cfg.train_cfg.max_epochs} epochs per training, seed '
               f'{args.seed}; N={N}, Steps={steps} unless stated). PoseTrack AP (%); Total (degraded): key '
               'frames with blur/occlusion only; COCO AP x100.')
    table = format_table(rows, caption)
    with open(out('ablations.md'), 'w') as f:
        f.write(table + '\n')
    with open(out('ablations.json'), 'w') as f:
        json.dump(_json_safe(dict(caption=caption, config=args.config, args=vars(args), rows=rows)), f,
                  indent=2)
    print_log(f'[run_ablations] wrote {out("ablations.md")} and {out("ablations.json")}', logger='current')
    print(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
