"""Trainings and tests that run once: the run cache of the benchmark tools.

Each run has its own work dir. When it finishes, ``run.json`` records what it produced (the checkpoint of a
training, the metrics of a test) and a fingerprint of its config; a later call with the same config finds the
record and returns it instead of running again, so a benchmark that was stopped, or extended by a row or a seed,
only runs what is missing.

The fingerprint is a hash of the whole config except what names the runner (``experiment_name`` and the
visualizer's name, unique per runner so that runners in one process do not share loggers). A training's
fingerprint also leaves out :data:`TEST_ONLY_KEYS`: trainings run without validation, so test settings do not
change what they produce.
"""
import copy
import gc
import hashlib
import json
import os.path as osp
import time
from typing import Callable, Dict, Optional

from mmengine.config import Config
from mmengine.fileio import load
from mmengine.logging import print_log

from .table import json_safe

RECORD = 'run.json'
# top-level keys that do not change what a training produces (``model.test_cfg`` neither)
TEST_ONLY_KEYS = ('test_cfg', 'test_dataloader', 'test_evaluator', 'val_cfg', 'val_dataloader', 'val_evaluator',
                  'load_from')


def run_config(cfg: Config, work_dir: str, name: str) -> Config:
    """Copy of ``cfg`` with ``work_dir`` and runner names unique to this run (``name`` + a timestamp)."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    stamp = time.time_ns()
    cfg.experiment_name = f'{name}_{stamp}'  # MMEngine's logger is per experiment name
    if cfg.get('visualizer') is not None:
        cfg.visualizer.name = f'visualizer_{name}_{stamp}'
    return cfg


def fingerprint(cfg: Config, training: bool = False) -> str:
    """SHA-1 of ``cfg`` without the runner names; for a training also without :data:`TEST_ONLY_KEYS` and
    ``model.test_cfg``."""
    d = cfg.to_dict()
    d.get('visualizer', {}).pop('name', None)
    d.pop('experiment_name', None)
    if training:
        for key in TEST_ONLY_KEYS:
            d.pop(key, None)
        d.get('model', {}).pop('test_cfg', None)
    return hashlib.sha1(json.dumps(json_safe(d), sort_keys=True).encode()).hexdigest()


def finished(work_dir: str, cfg: Config, training: bool = False) -> Optional[dict]:
    """The record of a finished run of ``cfg`` in ``work_dir``, or None. A training is also matched by a
    record of its full config (a test's fingerprint of the same config)."""
    path = osp.join(work_dir, RECORD)
    if not osp.isfile(path):
        return None
    done = load(path)
    accepted = {fingerprint(cfg, training), fingerprint(cfg)}
    return done if done.get('fingerprint') in accepted else None


def mark_finished(work_dir: str, cfg: Config, training: bool = False, **result) -> None:
    """Write the record of a finished run of ``cfg`` (``result`` and the fingerprint) into ``work_dir``."""
    with open(osp.join(work_dir, RECORD), 'w') as f:
        json.dump(json_safe(dict(result, fingerprint=fingerprint(cfg, training))), f, indent=2)


def train_once(cfg: Config, work_dir: str, name: str) -> str:
    """Train ``cfg`` in ``work_dir`` without validation (the last checkpoint is tested); returns the last
    checkpoint. A finished training of the same config there is reused."""
    from mmengine.runner import Runner
    cfg = run_config(cfg, work_dir, name)
    cfg.train_cfg.val_begin = cfg.train_cfg.max_epochs + 1
    done = finished(work_dir, cfg, training=True)
    if done is not None and osp.isfile(done['checkpoint']):
        print_log(f'reusing the finished training {name} in {work_dir}', logger='current')
        return done['checkpoint']
    print_log(f'training {name} in {work_dir}', logger='current')
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    del runner
    gc.collect()
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    mark_finished(work_dir, cfg, training=True, checkpoint=checkpoint, seconds=time.time() - start)
    return checkpoint


def test_once(cfg: Config, checkpoint: str, work_dir: str, name: str, evaluate: Optional[Callable] = None,
              needs: tuple = ()) -> Dict[str, float]:
    """Test ``checkpoint`` with ``cfg`` in ``work_dir``; returns the metrics. A finished test of the same
    config and checkpoint there that has every metric of ``needs`` is reused (a metric that was NaN comes back
    as NaN).

    Args:
        evaluate (callable, optional): ``runner -> metrics`` (default ``runner.test()``), called with the
            checkpoint loaded as ``weights_only`` with MMEngine's allowlist.
        needs (tuple[str]): Metrics a reused record must have (added to the tool since it was written).
    """
    from mmengine.runner import Runner

    from diffpose_mm.engine.checkpoint import mmengine_checkpoint_globals
    cfg = run_config(cfg, work_dir, name)
    cfg.load_from = checkpoint
    done = finished(work_dir, cfg)
    if done is not None and all(k in done['metrics'] for k in needs):
        print_log(f'reusing the finished test {name} in {work_dir}', logger='current')
        return {k: float('nan') if v is None else v for k, v in done['metrics'].items()}
    print_log(f'testing {name} ({checkpoint}) in {work_dir}', logger='current')
    start = time.time()
    runner = Runner.from_cfg(cfg)
    with mmengine_checkpoint_globals(checkpoint):
        metrics = {k: float(v) for k, v in (evaluate or Runner.test)(runner).items()}
    print_log(f'{name}: ' + ', '.join(f'{k}={v:.4g}' for k, v in metrics.items()), logger='current')
    del runner
    gc.collect()
    mark_finished(work_dir, cfg, metrics=metrics, seconds=time.time() - start)
    return metrics
