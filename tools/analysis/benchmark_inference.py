"""Inference cost of DiffPose for a grid of (N noise groups, DDIM steps), next to a single-frame HeatmapHead model.

Both models are built from one config (random weights unless ``--checkpoint``): DiffPose as configured, and a
baseline with the *same backbone* on the key frame only with MMPose's ``HeatmapHead`` (the baseline of
``run_ablations.py``, ``diffpose_mm.models.heads.baselines``: two deconvolutions with DiffPoseHead's widths, the
same heatmap size). Each is timed through the full ``model.predict`` path (backbone, neck, sampling, decoding)
on random inputs, in the same process, and a table is printed::

    python tools/analysis/benchmark_inference.py                                  # tiny config, CPU
    python tools/analysis/benchmark_inference.py \
        --config configs/diffpose/td-diffpose_vit-b_4xb16-60e_posetrack18-256x192.py \
        --device cuda --batch-size 32 --grid 1x1 1x4 5x4 10x4 10x1

Columns: per-person latency (ms), throughput (persons/s), peak memory (CUDA: peak allocated during the
measurement; CPU: the process's peak resident set size so far, which only grows), and the latency ratio to the
baseline.
"""
import argparse
import os.path as osp
import resource
import time
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import diffpose_mm  # noqa: F401  (registers the DiffPose modules)
from diffpose_mm.models.heads.baselines import heatmap_head_like, heatmap_test_cfg
from diffpose_mm.utils import render_table
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

DEFAULT_CONFIG = osp.normpath(
    osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'configs', 'diffpose', 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='DiffPose config (default: the tiny config)')
    parser.add_argument('--checkpoint', default=None, help='optional weights for the DiffPose model')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    parser.add_argument('--batch-size', type=int, default=8, help='persons per forward')
    parser.add_argument('--repeats', type=int, default=5, help='timed forwards per setting')
    parser.add_argument('--warmup', type=int, default=1, help='untimed forwards per setting')
    parser.add_argument('--grid', nargs='+', default=['1x1', '1x4', '5x4', '10x4'],
                        help='settings NxSTEPS (noise groups x DDIM steps)')
    parser.add_argument('--flip-test', choices=['config', 'on', 'off'], default='config',
                        help='flip test for both models (default: as in the config)')
    args = parser.parse_args(argv)
    try:
        args.grid = [tuple(int(v) for v in s.lower().split('x')) for s in args.grid]
        assert all(len(g) == 2 and min(g) >= 1 for g in args.grid)
    except (ValueError, AssertionError):
        parser.error(f'--grid entries must look like 10x4 (N x steps), got {args.grid}')
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
        dict(
            type='TopdownPoseEstimator',
            backbone=cfg.model.backbone,
            head=heatmap_head_like(cfg.model.head, in_channels=feat.shape[1]),
            test_cfg=heatmap_test_cfg(cfg.model.get('test_cfg'))))
    baseline.backbone.load_state_dict(backbone.state_dict())
    return diffpose.to(device).eval(), baseline.to(device).eval()


def make_inputs(model: torch.nn.Module, batch_size: int, device: torch.device) -> Tuple[torch.Tensor, list]:
    w, h = model.head.decoder.input_size
    num_frames = getattr(getattr(model, 'neck', None), 'num_frames', None)
    shape = (batch_size, 3, h, w) if num_frames is None else (batch_size, num_frames, 3, h, w)
    samples = []
    for _ in range(batch_size):
        ds = PoseDataSample(metainfo=dict(input_size=(w, h), input_center=np.array([w / 2, h / 2]),
                                          input_scale=np.array([w, h], dtype=np.float32),
                                          flip_indices=list(range(model.head.out_channels))))
        ds.gt_instances = InstanceData(bboxes=np.zeros((1, 4), dtype=np.float32), bbox_scores=np.ones(1))
        samples.append(ds)
    return torch.randn(shape, device=device), samples


def measure(model: torch.nn.Module, inputs: torch.Tensor, samples: list, repeats: int, warmup: int,
            device: torch.device) -> Tuple[float, float]:
    """Seconds per forward (median over ``repeats``) and peak memory in MiB."""
    cuda = device.type == 'cuda'
    with torch.no_grad():
        for _ in range(warmup):
            model.predict(inputs, samples)
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model.predict(inputs, samples)
            if cuda:
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
    return float(np.median(times)), peak


def run(args: argparse.Namespace) -> List[dict]:
    device = torch.device(args.device)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    if args.flip_test != 'config':
        cfg.model.setdefault('test_cfg', {})['flip_test'] = args.flip_test == 'on'
    diffpose, baseline = build_models(cfg, device)
    if args.checkpoint:
        from mmengine.runner import load_checkpoint

        from diffpose_mm.engine.checkpoint import mmengine_checkpoint_globals
        with mmengine_checkpoint_globals(args.checkpoint):  # weights_only=True with MMEngine's types allowed
            load_checkpoint(diffpose, args.checkpoint, map_location=device)
    flip = bool(diffpose.test_cfg.get('flip_test', False))

    rows = []
    inputs, samples = make_inputs(baseline, args.batch_size, device)
    sec, mem = measure(baseline, inputs, samples, args.repeats, args.warmup, device)
    rows.append(dict(model='HeatmapHead (1 frame)', N='-', steps='-', sec=sec, mem=mem))
    inputs, samples = make_inputs(diffpose, args.batch_size, device)
    for n, steps in args.grid:
        diffpose.test_cfg.update(num_noise_groups=n, sampling_steps=steps)
        sec, mem = measure(diffpose, inputs, samples, args.repeats, args.warmup, device)
        rows.append(dict(model=f'DiffPose ({inputs.shape[1] if inputs.dim() == 5 else 1} frames)', N=n,
                         steps=steps, sec=sec, mem=mem))

    base = rows[0]['sec']
    header = ['model', 'N', 'steps', 'ms/person', 'persons/s', 'peak MiB', 'x baseline']
    table = [[r['model'], r['N'], r['steps'], f'{1000 * r["sec"] / args.batch_size:.2f}',
              f'{args.batch_size / r["sec"]:.1f}', f'{r["mem"]:.0f}', f'{r["sec"] / base:.2f}'] for r in rows]
    print(f'config: {args.config}\ndevice: {device}, batch size: {args.batch_size}, flip test: {flip}, '
          f'repeats: {args.repeats} (median)' + ('' if device.type == 'cuda' else
                                                 ', peak MiB = process peak RSS so far'))
    print(render_table(header, table, align='r' * len(header), markdown=False))
    return rows


if __name__ == '__main__':
    run(parse_args())
