"""tools/analysis/probe_denoising.py: hit rates are right, and a DiffPose work dir is probed end to end."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import save_checkpoint
from mmpose.registry import MODELS

from diffpose_mm.testing import make_synthetic_posetrack

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def probe(load_tool):
    return load_tool('tools/analysis/probe_denoising.py')


def gaussian_heatmaps(points, size=(32, 24), sigma=1.5):
    """(1, K, H, W) heatmaps with one peak per (x, y) in ``points``."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w]
    maps = [np.exp(-((xs - x)**2 + (ys - y)**2) / (2 * sigma**2)) for x, y in points]
    return torch.tensor(np.stack(maps)[None], dtype=torch.float32)


def test_hit_rates_values(probe):
    points = [(5 + k, 4 + k) for k in range(17)]
    gt = gaussian_heatmaps(points)
    weights = torch.ones(1, 17)
    weights[0, 3:5] = 0  # ears unlabelled
    assert all(v == 100 for v in probe.hit_rates(gt, gt, weights, radius=2).values())

    moved = list(points)
    moved[7] = (points[7][0] + 3, points[7][1])  # left elbow 3 px off: a miss at radius 2, a hit at radius 3
    rates = probe.hit_rates(gaussian_heatmaps(moved), gt, weights, radius=2)
    assert rates['Elbow'] == 50 and rates['Wrist'] == 100
    assert rates['All'] == pytest.approx(100 * 14 / 15)
    assert probe.hit_rates(gaussian_heatmaps(moved), gt, weights, radius=3)['Elbow'] == 100


def test_probe_diffpose_work_dir(probe, tmp_path, capsys):
    data_root = tmp_path / 'data'
    make_synthetic_posetrack(str(data_root), seed=0, num_train_videos=1, num_val_videos=1, train_frames=8, val_frames=5)
    cfg = Config.fromfile(str(REPO / 'configs' / 'diffpose' / 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'))
    cfg.val_dataloader.dataset.data_root = str(data_root) + '/'
    work_dir = tmp_path / 'run'
    work_dir.mkdir()
    cfg.dump(str(work_dir / 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'))
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    save_checkpoint(model.state_dict(), str(work_dir / 'epoch_1.pth'))
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))

    rows = probe.main([str(work_dir), '--timesteps', '0', '999', '--grid', '2x1'])
    assert [what for _, what, _ in rows
            ] == ['x0 from q_sample(GT, t=0)', 'x0 from q_sample(GT, t=999)', 'sampler N=2 steps=1']
    assert all(0 <= v <= 100 for _, _, rates in rows for v in rates.values())
    assert 'sampler N=2 steps=1' in capsys.readouterr().out


def test_rejects_unfinished_work_dir(probe, tmp_path):
    with pytest.raises(FileNotFoundError, match='last_checkpoint'):
        probe.load_run(str(tmp_path))
