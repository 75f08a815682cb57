"""The sampling sweep test loop and MMEngine's runner with the DiffPose-3D lifter: the tiny synthetic config
trains (MMPose's Human36mDataset, RandomFlipAroundRoot, LoadKeypointGMM) and tests several (N, steps) settings of
the 3D head in one run, with MMPose's MPJPE metrics."""
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import diffpose_mm  # noqa: F401  (registers the modules)
from diffpose_mm.testing import make_synthetic_h36m
from diffpose_mm.utils import with_data_root

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / 'configs' / 'diffpose3d' / 'diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m.py'


@pytest.fixture(autouse=True)
def mmpose_scope():
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


def test_train_then_sweep_n_and_steps(tmp_path, monkeypatch):
    # MMEngine's environment report and pretty config dump take most of a runner's start-up; not tested here
    monkeypatch.setattr(Runner, '_log_env', lambda self, env_cfg: None)
    monkeypatch.setattr(Runner, 'dump_config', lambda self: None)
    data = tmp_path / 'data'
    make_synthetic_h36m(
        str(data), seed=0, train_subjects=('S1', ), test_subjects=('S9', ), actions=('Walking', ), train_subactions=1,
        frames=24, camera_file=str(REPO / 'tests/data/h36m/cameras.pkl'))
    cfg = with_data_root(Config.fromfile(str(CONFIG)), str(data))
    cfg.merge_from_dict({
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 2,
        'work_dir': str(tmp_path / 'work'),
        'model.backbone.stem_channels': 32,
        'model.head.denoiser.embed_dims': 32,
        'model.head.denoiser.num_layers': 1,
        'default_hooks.logger.interval': 1,
        'visualizer.name': f'vis_{tmp_path.name}'
    })
    for loader in ('train_dataloader', 'test_dataloader'):
        cfg[loader].update(batch_size=32, num_workers=0, persistent_workers=False)
    cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=1, eta_min=1e-5, by_epoch=True)]
    cfg.test_cfg = dict(type='SamplingSweepTestLoop', sweep=[(1, 1), dict(num_noise_groups=3, sampling_steps=2)])
    runner = Runner.from_cfg(cfg)
    runner.train()
    own = dict(runner.model.test_cfg)
    metrics = runner.test()
    assert {'MPJPE', 'P-MPJPE', 'N-MPJPE'} <= set(metrics)
    sweep = json.loads((Path(runner.log_dir) / 'diffusion_sampling_sweep.json').read_text())
    assert [s['settings']['num_noise_groups'] for s in sweep] == [1, 3]
    assert [s['settings']['sampling_steps'] for s in sweep] == [1, 2]
    assert sweep[0]['metrics']['MPJPE'] == pytest.approx(metrics['MPJPE'])  # the loop returns the first setting
    assert sweep[0]['metrics']['MPJPE'] != sweep[1]['metrics']['MPJPE']  # the head really read the settings
    for s in sweep:
        assert 0 < s['metrics']['P-MPJPE'] <= s['metrics']['MPJPE'] < 1.0  # metres
    assert runner.model.test_cfg == own  # the model's own settings are back
    # the sweep wrote model.test_cfg, the one dict PoseLifter hands the head: a direct predict agrees
    batch = next(iter(runner.test_dataloader))
    runner.model.test_cfg.update(num_noise_groups=1, sampling_steps=1)
    with torch.no_grad():
        out = runner.model.test_step(batch)
    assert (out[0].pred_instances.keypoint_spread == 0).all()
