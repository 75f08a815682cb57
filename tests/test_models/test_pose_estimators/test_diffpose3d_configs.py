"""The DiffPose-3D configs build; the paper config tests on MMPose's real Human3.6M fixture with tools/test.py."""
import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import DATASETS, MODELS

import diffpose_mm  # noqa: F401  (registers the modules)

REPO = Path(__file__).resolve().parents[3]
H36M = REPO / 'tests' / 'data' / 'h36m'
CONFIGS = sorted((REPO / 'configs' / 'diffpose3d').glob('*.py'))
PAPER = REPO / 'configs' / 'diffpose3d' / 'diffpose3d_tcn-1frm-supv-cpn-ft_1xb1024-80e_h36m.py'


@pytest.fixture(autouse=True)
def scope_and_quiet_logs():
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield
    logger.setLevel(level)


def fixture_options(split: str = 'test') -> dict:
    """Dataset overrides that point a config at tests/data/h36m (4 frames of 4 videos)."""
    return {
        f'{split}_dataloader.dataset.data_root': str(H36M),
        f'{split}_dataloader.dataset.ann_file': 'test_h36m_body3d.npz',
        f'{split}_dataloader.dataset.keypoint_2d_det_file': 'test_h36m_2d_detection.npy',
        f'{split}_dataloader.dataset.camera_param_file': 'cameras.pkl',
        f'{split}_dataloader.dataset.pipeline.0.gmm_file': str(H36M / 'test_h36m_2d_detection_gmm.npz'),
        f'{split}_dataloader.batch_size': 4,
        f'{split}_dataloader.num_workers': 0,
        f'{split}_dataloader.persistent_workers': False
    }


def test_paper_and_synthetic_configs_are_there():
    names = [c.name for c in CONFIGS]
    assert names == sorted([
        'diffpose3d_tcn-1frm-supv-cpn-ft_1xb1024-80e_h36m.py', 'diffpose3d_tcn-1frm-supv_1xb1024-80e_h36m.py',
        'diffpose3d_tcn-243frm-supv-cpn-ft_1xb1024-80e_h36m.py', 'diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m.py',
        'diffpose3d_tcn-27frm_1xb256-8e_synthetic-h36m.py'
    ])


@pytest.mark.parametrize('path', [c for c in CONFIGS if c.name.endswith('_h36m.py')], ids=lambda p: p.stem)
def test_paper_configs_run_on_the_real_fixture(path):
    """Every paper config: MMPose's dataset settings, the DiffPose-3D model, one batch of the real fixture through
    the test pipeline and the model, metrics from MMPose's MPJPE."""
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports == dict(imports=['diffpose_mm'], allow_failed_imports=False)
    assert cfg.model.type == 'PoseLifter' and cfg.model.head.type == 'DiffPose3DHead'
    assert cfg.model.test_cfg.num_noise_groups == 5 and cfg.model.test_cfg.flip_test
    assert cfg.train_dataloader.batch_size == 1024 and cfg.train_cfg.max_epochs == 80
    assert [e['mode'] for e in cfg.test_evaluator] == ['mpjpe', 'p-mpjpe', 'n-mpjpe']
    seq_len = 243 if '243frm' in path.name else 1
    assert cfg.test_dataloader.dataset.seq_len == seq_len
    assert np.prod(cfg.model.backbone.kernel_sizes) == seq_len
    if '-gt_' not in path.name and 'supv_' in path.name:
        assert cfg.test_dataloader.dataset.keypoint_2d_src == 'gt'
        return  # GT 2D: no fixture GMM file made from `part` (its dataset wiring is the CPN config's)
    cfg.merge_from_dict(fixture_options())
    cfg.test_dataloader.dataset.pipeline[0]['gmm_file'] = str(H36M / 'test_h36m_2d_detection_gmm.npz')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dataset) == 4
    # narrower networks than shipped keep this quick (the shipped widths run in the tools/test.py test)
    cfg.model.backbone.stem_channels = 64
    cfg.model.head.denoiser.update(embed_dims=32, num_layers=2)
    model = MODELS.build(cfg.model)
    model.eval()
    model.test_cfg.update(num_noise_groups=2, sampling_steps=2)
    batch = model.data_preprocessor(
        dict(inputs=[dataset[i]['inputs'] for i in range(2)],
             data_samples=[dataset[i]['data_samples'] for i in range(2)]))
    with torch.no_grad():
        out = model(**batch, mode='predict')
    assert torch.stack(batch['inputs']).shape == (2, seq_len, 17, 2)  # (T, K, 2) per sample: flip test works
    assert out[0].pred_instances.keypoints.shape == (1, 17, 3)
    # the root is added back: predictions are in camera coordinates, metres in front of the camera
    assert 4 < out[0].pred_instances.keypoints[0, 0, 2] < 7


def test_tools_test_prints_mpjpe_on_the_fixture(tmp_path):
    """``python tools/test.py CONFIG CKPT`` with the paper config on tests/data/h36m prints MPJPE, P-MPJPE and
    N-MPJPE (a randomly initialised checkpoint: the wiring, not the accuracy)."""
    cfg = Config.fromfile(str(PAPER))
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'random.pth'
    # meta as MMEngine saves it: the dataset metainfo holds an empty numpy array (sigmas), pickled as bytes()
    dataset_meta = parse_pose_metainfo(dict(from_file='configs/_base_/datasets/h36m.py'))
    assert dataset_meta['sigmas'].size == 0
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dataset_meta)), ckpt)
    options = dict(fixture_options(), **{'model.test_cfg.num_noise_groups': 2, 'model.test_cfg.sampling_steps': 2})
    cmd = [
        sys.executable,
        str(REPO / 'tools' / 'test.py'),
        str(PAPER),
        str(ckpt), '--work-dir',
        str(tmp_path / 'w'), '--cfg-options'
    ] + [f'{k}={v}' for k, v in options.items()]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = dict(re.findall(r'\b(MPJPE|P-MPJPE|N-MPJPE): ([0-9.]+)', proc.stdout + proc.stderr))
    assert set(found) == {'MPJPE', 'P-MPJPE', 'N-MPJPE'}, proc.stdout[-2000:]
    assert 0 < float(found['P-MPJPE']) < float(found['MPJPE'])  # Procrustes alignment can only help
