"""Inference cost of DiffPose for a grid of (N noise groups, DDIM steps), next to its backbone floor and a
single-frame HeatmapHead model.

For every config (random weights unless ``--checkpoint``) three kinds of rows are timed through the same
random inputs, in the same process:

- ``HeatmapHead (1 frame)``: the *same backbone* on the key frame only with MMPose's ``HeatmapHead`` (the
  baseline of ``run_ablations.py``, ``diffpose_mm.models.heads.baselines``), full ``model.predict``;
- ``backbone only (T frames)``: the floor: DiffPose's backbone alone on the ``T = 2δ+1`` frames (and on the
  flipped frames with flip test), which no sampling setting can go below;
- ``DiffPose (T frames)`` for each ``NxSTEPS`` of ``--grid``: the full ``model.predict`` path (backbone, STRL,
  sampling, decoding).

CPU timings move when other processes share the cores, so the settings are **interleaved**: every repeat times
each setting once, in turn, and the medians over the repeats are reported. Examples::

    python tools/analysis/benchmark_inference.py                                  # tiny config, CPU
    python tools/analysis/benchmark_inference.py --batch-size 4 --repeats 5 --grid 1x1 10x4 \\
        --config configs/diffpose/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py \\
                 configs/diffpose/td-diffpose_vit-b_4xb16-60e_posetrack18-256x192.py

Columns: per-person latency (ms), throughput (persons/s), peak memory (CUDA: peak allocated during the
measurement; CPU: the process's peak resident set size so far, which only grows), the latency ratio to the
baseline and to the backbone floor, and per-person time in the backbone, the STRL neck and the head (sampling
and keypoint decoding; the rest of ``predict``), with the share of STRL + head in the total. Under each table,
the ratio of N=10 x 4 steps to N=1 x 1 step when both are in the grid.
"""
import argparse
import os.path as osp
import resource
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

import diffpose_mm  # noqa: F401  (registers the DiffPose modules)
from diffpose_mm.models.heads.baselines import heatmap_head_like, heatmap_test_cfg
from diffpose_mm.utils import render_table

DEFAULT_CONFIG = osp.normpath(
    osp.join(
        osp.dirname(osp.abspath(__file__)), '..', '..', 'configs', 'diffpose',
        'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'))
STAGES = ('backbone', 'neck')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', nargs='+', default=[DEFAULT_CONFIG],
                        help='DiffPose config(s), one table each (default: the tiny config)')
    parser.add_argument('--checkpoint', default=None, help='optional weights for the DiffPose model (one config)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    parser.add_argument('--batch-size', type=int, default=8, help='persons per forward')
    parser.add_argument('--repeats', type=int, default=5, help='timed forwards per setting (interleaved)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed forwards per setting')
    parser.add_argument('--grid', nargs='+', default=['1x1', '1x4', '5x4', '10x4'],
                        help='settings NxSTEPS (noise groups x DDIM steps)')
    parser.add_argument('--flip-test', choices=['config', 'on', 'off'], default='config',
                        help='flip test for all models (default: as in the config)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override settings of every config, e.g. model.head.scale_fusion=sum')
    args = parser.parse_args(argv)
    try:
        args.grid = [tuple(int(v) for v in s.lower().split('x')) for s in args.grid]
        assert all(len(g) == 2 and min(g) >= 1 for g in args.grid)
    except (ValueError, AssertionError):
        parser.error(f'--grid entries must look like 10x4 (N x steps), got {args.grid}')
    if args.checkpoint and len(args.config) > 1:
        parser.error('--checkpoint needs exactly one --config')
    return args


def build_models(cfg: Config, device: torch.device) -> Tuple[torch.nn.Module, torch.nn.Module]:
    """The DiffPose model of ``cfg`` and a single-frame HeatmapHead baseline with the same backbone (no neck:
    the baseline head reads the backbone's channels)."""
    diffpose = MODELS.build(cfg.model)
    backbone = diffpose.backbone
    with torch.no_grad():
        w, h = diffpose.head.decoder.input_size
        feat = backbone(torch.zeros(1, 3, h, w))[-1]
    baseline = MODELS.build(
        dict(type='TopdownPoseEstimator', backbone=cfg.model.backbone,
             head=heatmap_head_like(cfg.model.head,
                                    in_channels=feat.shape[1]), test_cfg=heatmap_test_cfg(cfg.model.get('test_cfg'))))
    baseline.backbone.load_state_dict(backbone.state_dict())
    return diffpose.to(device).eval(), baseline.to(device).eval()


def make_inputs(model: torch.nn.Module, batch_size: int, device: torch.device) -> Tuple[torch.Tensor, list]:
    """Random ``(B, T, 3, H, W)`` clips (``(B, 3, H, W)`` without a temporal neck) and their data samples."""
    w, h = model.head.decoder.input_size
    num_frames = getattr(getattr(model, 'neck', None), 'num_frames', None)
    shape = (batch_size, 3, h, w) if num_frames is None else (batch_size, num_frames, 3, h, w)
    samples = []
    for _ in range(batch_size):
        ds = PoseDataSample(
            metainfo=dict(
                input_size=(w, h), input_center=np.array([w / 2, h / 2]), input_scale=np.array(
                    [w, h], dtype=np.float32), flip_indices=list(range(model.head.out_channels))))
        ds.gt_instances = InstanceData(bboxes=np.zeros((1, 4), dtype=np.float32), bbox_scores=np.ones(1))
        samples.append(ds)
    return torch.randn(shape, device=device), samples


@contextmanager
def stage_timers(model: torch.nn.Module, device: torch.device) -> Iterator[Dict[str, float]]:
    """Seconds spent in ``model.backbone`` and ``model.neck`` (summed over calls) while the context is open.

    Forward hooks on the stage modules; hooks on a parent do not take nn.TransformerEncoderLayer off its fast
    path (that checks the layer's own submodules only).
    """
    spent = {name: 0. for name in STAGES}
    handles, started = [], {}

    def sync() -> None:
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    for name in STAGES:
        module = getattr(model, name, None)
        if module is None:
            continue

        def pre(*_, name=name):
            sync()
            started[name] = time.perf_counter()

        def post(*_, name=name):
            sync()
            spent[name] += time.perf_counter() - started[name]

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        yield spent
    finally:
        for handle in handles:
            handle.remove()


def time_settings(settings: Dict[str, Callable[[], Dict[str, float]]], repeats: int,
                  warmup: int) -> Dict[str, Dict[str, float]]:
    """Median seconds (``total`` and per stage) of each setting; the settings are run in turn in every repeat
    so that a slow spell of the machine hits all of them alike."""
    for fn in settings.values():
        for _ in range(warmup):
            fn()
    samples: Dict[str, List[Dict[str, float]]] = {name: [] for name in settings}
    for _ in range(repeats):
        for name, fn in settings.items():
            samples[name].append(fn())
    return {name: {key: float(np.median([s[key] for s in runs])) for key in runs[0]} for name, runs in samples.items()}


def _peak_mib(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def load_config(config: str, args: argparse.Namespace) -> Config:
    """``config`` with ``--cfg-options`` and ``--flip-test`` applied."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(args.cfg_options)
    if args.flip_test != 'config':
        cfg.model.setdefault('test_cfg', {})['flip_test'] = args.flip_test == 'on'
    return cfg


def benchmark_config(config: str, args: argparse.Namespace) -> List[dict]:
    """Rows (one per setting) of one config: ``model, N, steps, sec`` (median per forward), ``mem``, and the
    median seconds in ``backbone``, ``neck`` and ``head`` (the rest of ``predict``)."""
    device = torch.device(args.device)
    cfg = load_config(config, args)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    diffpose, baseline = build_models(cfg, device)
    if args.checkpoint:
        from mmengine.runner import load_checkpoint

        from diffpose_mm.engine.checkpoint import mmengine_checkpoint_globals
        with mmengine_checkpoint_globals(args.checkpoint):  # weights_only=True with MMEngine's types allowed
            load_checkpoint(diffpose, args.checkpoint, map_location=device)
    flip = bool(diffpose.test_cfg.get('flip_test', False))
    base_inputs, base_samples = make_inputs(baseline, args.batch_size, device)
    inputs, samples = make_inputs(diffpose, args.batch_size, device)
    num_frames = inputs.shape[1] if inputs.dim() == 5 else 1

    def timed(fn: Callable[[], object], model: torch.nn.Module) -> Callable[[], Dict[str, float]]:

        def run_once() -> Dict[str, float]:
            with torch.no_grad(), stage_timers(model, device) as spent:
                if device.type == 'cuda':
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                fn()
                if device.type == 'cuda':
                    torch.cuda.synchronize(device)
                total = time.perf_counter() - start
            return dict(total=total, **spent)

        return run_once

    def floor() -> None:
        # what predict runs of the backbone: every frame, and every flipped frame with flip test
        diffpose.backbone(inputs.flatten(0, 1))
        if flip:
            diffpose.backbone(inputs.flip(-1).flatten(0, 1))

    def diffpose_setting(n: int, steps: int) -> Callable[[], None]:

        def fn() -> None:
            diffpose.test_cfg.update(num_noise_groups=n, sampling_steps=steps)
            diffpose.predict(inputs, samples)

        return fn

    settings = {
        'baseline': timed(lambda: baseline.predict(base_inputs, base_samples), baseline),
        'floor': timed(floor, diffpose)
    }
    for n, steps in args.grid:
        settings[f'{n}x{steps}'] = timed(diffpose_setting(n, steps), diffpose)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    medians = time_settings(settings, args.repeats, args.warmup)
    mem = _peak_mib(device)

    rows = [
        dict(config=config, model='HeatmapHead (1 frame)', N='-', steps='-', **medians['baseline']),
        dict(config=config, model=f'backbone only ({num_frames} frames)', N='-', steps='-', **medians['floor'])
    ]
    for n, steps in args.grid:
        rows.append(
            dict(config=config, model=f'DiffPose ({num_frames} frames)', N=n, steps=steps, **medians[f'{n}x{steps}']))
    for row in rows:
        row['sec'] = row.pop('total')
        row['mem'] = mem
        row['flip'] = flip
        row['head'] = max(row['sec'] - row['backbone'] - row['neck'], 0.) if row['model'].startswith('DiffPose') \
            else 0.
    return rows


def format_rows(rows: List[dict], batch_size: int) -> str:
    """The printed table of one config's rows."""
    base, floor = rows[0]['sec'], rows[1]['sec']
    header = [
        'model', 'N', 'steps', 'ms/person', 'persons/s', 'peak MiB', 'x baseline', 'x floor', 'backbone ms', 'STRL ms',
        'head ms', 'STRL+head %'
    ]

    def ms(sec: float) -> str:
        return f'{1000 * sec / batch_size:.2f}'

    table = []
    for r in rows:
        diffpose = r['model'].startswith('DiffPose')
        table.append([
            r['model'], r['N'], r['steps'],
            ms(r['sec']), f'{batch_size / r["sec"]:.1f}', f'{r["mem"]:.0f}', f'{r["sec"] / base:.2f}',
            f'{r["sec"] / floor:.2f}',
            ms(r['backbone']) if diffpose else '-',
            ms(r['neck']) if diffpose else '-',
            ms(r['head']) if diffpose else '-', f'{100 * (r["neck"] + r["head"]) / r["sec"]:.1f}' if diffpose else '-'
        ])
    lines = [render_table(header, table, align='l' + 'r' * (len(header) - 1), markdown=False)]
    by_setting = {(r['N'], r['steps']): r['sec'] for r in rows}
    if (1, 1) in by_setting and (10, 4) in by_setting:
        lines.append(f'N=10 x 4 steps / N=1 x 1 step: {by_setting[(10, 4)] / by_setting[(1, 1)]:.2f}')
    return '\n'.join(lines)


def run(args: argparse.Namespace) -> List[dict]:
    """Benchmark every config of ``args.config`` and print one table each; returns all rows."""
    all_rows = []
    for config in args.config:
        rows = benchmark_config(config, args)
        print(f'config: {config}\ndevice: {args.device}, batch size: {args.batch_size}, '
              f'flip test: {rows[0]["flip"]}, '
              f'repeats: {args.repeats} interleaved (median)' +
              ('' if args.device.startswith('cuda') else ', peak MiB = process peak RSS so far'))
        print(format_rows(rows, args.batch_size))
        all_rows += rows
    return all_rows


if __name__ == '__main__':
    run(parse_args())
