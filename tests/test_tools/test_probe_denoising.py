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


def test_best_of_n_hit_rates(probe):
    points = [(5 + k, 4 + k) for k in range(17)]
    gt, weights = gaussian_heatmaps(points), torch.ones(1, 17)
    moved = list(points)
    moved[7] = (points[7][0] + 3, points[7][1])  # left elbow 3 px off in one hypothesis
    one_right = torch.stack([gaussian_heatmaps(moved), gt], dim=1)  # (1, N=2, K, H, W)
    assert probe.hit_rates(one_right, gt, weights, radius=2)['Elbow'] == 100  # one of the two hypotheses is hit
    both_wrong = torch.stack([gaussian_heatmaps(moved)] * 2, dim=1)
    assert probe.hit_rates(both_wrong, gt, weights, radius=2)['Elbow'] == 50


def test_cluster_vote_keeps_the_majority(probe):
    """Two of three groups put joint 0 at (5, 5), one at (18, 25) with a 3x taller peak: the mean heatmap peaks
    at the lone group's location, the vote at the majority's, with exactly the majority's mean heatmap."""
    a1, a2 = gaussian_heatmaps([(5, 5)]), gaussian_heatmaps([(6, 5)])
    lone = 3 * gaussian_heatmaps([(18, 25)])
    groups = torch.stack([a1, lone, a2], dim=1)  # (1, 3, 1, 32, 24)
    mean_peak = groups.mean(1).flatten().argmax().item()
    assert divmod(mean_peak, 24) == (25, 18)
    voted = probe.cluster_vote(groups, radius=2)
    assert voted.shape == (1, 1, 32, 24)
    torch.testing.assert_close(voted, (a1 + a2) / 2)
    # with a radius that joins all three the vote is the plain mean
    torch.testing.assert_close(probe.cluster_vote(groups, radius=30), groups.mean(1))


def test_seed_summary_values(probe):
    sampler, best = 'sampler N=2 steps=1', 'sampler N=2 steps=1: best of 2'
    rows = [  # two seeds of delta2, one heatmap_head (no summary: a single run)
        ('delta2', sampler, dict(Elbow=60., All=80.)),
        ('delta2', best, dict(Elbow=70., All=85.)),
        ('heatmap_head', 'heatmaps', dict(Elbow=50., All=79.)),
        ('delta2', sampler, dict(Elbow=40., All=70.)),
        ('delta2', best, dict(Elbow=50., All=72.)),
    ]
    summary = {(name, what): rest for name, what, *rest in probe.seed_summary(rows)}
    assert set(summary) == {('delta2', sampler), ('delta2', best)}
    num, means, stds, diff = summary[('delta2', sampler)]
    assert num == 2 and means == {'Elbow': 50., 'All': 75.} and diff is None
    assert stds['All'] == pytest.approx(np.std([80, 70], ddof=1))
    num, means, stds, diff = summary[('delta2', best)]
    assert means['Elbow'] == 60. and diff == pytest.approx((3.5, np.std([5, 2], ddof=1)))  # paired: 85 - 80, 72 - 70


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

    rows = probe.main([str(work_dir), '--timesteps', '0', '999', '--grid', '2x1', '1x1'])
    assert [what for _, what, _ in rows] == [
        'x0 from q_sample(GT, t=0)', 'x0 from q_sample(GT, t=999)', 'sampler N=2 steps=1',
        'sampler N=2 steps=1: cluster vote', 'sampler N=2 steps=1: best of 2 (oracle)', 'sampler N=1 steps=1'
    ]
    assert all(0 <= v <= 100 for _, _, rates in rows for v in rates.values())
    assert 'sampler N=2 steps=1' in capsys.readouterr().out


BAD_OPTIONS = [(['--radius', '0'], '--radius'), (['--grid', '10-4'], '--grid'), (['--grid', '0x4'], '--grid')]


@pytest.mark.parametrize('argv, culprit', BAD_OPTIONS)
def test_rejects_bad_options(probe, argv, culprit, capsys):
    with pytest.raises(SystemExit):
        probe.parse_args(['work_dir'] + argv)
    assert culprit in capsys.readouterr().err


def test_rejects_unfinished_work_dir(probe, tmp_path):
    with pytest.raises(FileNotFoundError, match='last_checkpoint'):
        probe.load_run(str(tmp_path))
