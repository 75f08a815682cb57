"""tools/analysis/vis_lifting.py writes the README picture: 2D input with spread circles, MMPose's 3D panels of
prediction and ground truth, and the hypotheses."""
from pathlib import Path

import cv2
import numpy as np
import torch


def test_writes_the_picture(load_tool, tmp_path, mmpose_scope):
    from mmengine.config import Config
    from mmpose.registry import MODELS

    from diffpose_mm.testing import make_synthetic_h36m
    tool = load_tool('tools/analysis/vis_lifting.py')
    repo = Path(__file__).resolve().parents[2]
    make_synthetic_h36m(
        str(tmp_path / 'data'), seed=1, train_subjects=('S1', ), test_subjects=('S9', ), actions=('Turning', ),
        train_subactions=1, frames=12, camera_file=str(repo / 'tests/data/h36m/cameras.pkl'))
    config = str(repo / 'configs/diffpose3d/diffpose3d_tcn-1frm_1xb256-8e_synthetic-h36m.py')
    model = MODELS.build(Config.fromfile(config).model)
    torch.nn.init.normal_(model.head.denoiser.out.weight, std=0.05)  # hypotheses that differ
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), tmp_path / 'model.pth')
    out = tmp_path / 'vis.png'
    data = tmp_path / 'data'
    tool.main([
        config,
        str(tmp_path / 'model.pth'), '--out',
        str(out), '--candidates', '8', '--num-hypotheses', '4', '--cfg-options',
        f'test_dataloader.dataset.data_root={data}',
        f'test_dataloader.dataset.pipeline.0.gmm_file={data}/joint_2d_det_files/synthetic_det_test_gmm.npz',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False'
    ])
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] >= 300 and img.shape[1] > 3 * img.shape[0]  # four panels side by side
    assert (img < 200).any(axis=-1).mean() > 0.01  # something is drawn
    # the hypotheses panel (right quarter) is not empty either
    assert (img[:, -img.shape[0]:] < 200).any(axis=-1).mean() > 0.005


def test_upright_turns_camera_coordinates_z_up(load_tool):
    tool = load_tool('tools/analysis/vis_lifting.py')
    head_above_feet = np.array([[0., -0.8, 5.], [0., 0.9, 5.]])  # camera: y down
    up = tool.upright(head_above_feet)
    assert up[0, 2] > up[1, 2] and np.allclose(up[:, 1], 5.)
