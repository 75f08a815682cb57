"""tools/analysis/probe_denoising.py: hit rates are right, and a DiffPose work dir is probed end to end."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import save_checkpoint
from mmpose.registry import MODELS

from diffpose_mm.models.heads.baselines import heatmap_head_like, heatmap_test_cfg
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


def test_top_peaks_oracle(probe):
    """The left elbow has a tall peak 10 px from its GT and a lower one on it: the maximum misses, the best of
    the top-2 peaks hits. The right elbow has one peak plus a shoulder 1 px away (inside the NMS window): its
    extra hypotheses repeat the maximum, so it stays a miss. Every other joint is hit by the maximum."""
    points = [(5 + k, 4 + k) for k in range(17)]
    gt, weights = gaussian_heatmaps(points), torch.ones(1, 17)
    maps = gaussian_heatmaps(points)
    maps[0, 7] = gaussian_heatmaps([(2, 25)])[0, 0] + 0.6 * gt[0, 7]
    maps[0, 8] = gaussian_heatmaps([(20, 3)])[0, 0] + 0.9 * gaussian_heatmaps([(21, 3)])[0, 0]
    hyps = probe.top_peaks(maps, 3, radius=2)
    assert hyps.shape == (1, 3, 17, 32, 24)
    assert float(hyps.sum()) == 3 * 17  # one-hot maps

    def locs(k):
        return [divmod(hyps[0, n, k].flatten().argmax().item(), 24)[::-1] for n in range(3)]

    assert locs(7)[:2] == [(2, 25), points[7]]
    right_max = divmod(maps[0, 8].flatten().argmax().item(), 24)[::-1]
    assert locs(8) == [right_max] * 3  # one peak: repeated
    assert probe.hit_rates(maps, gt, weights, radius=2)['Elbow'] == 0
    assert probe.hit_rates(probe.top_peaks(maps, 1, radius=2), gt, weights, radius=2)['Elbow'] == 0
    assert probe.hit_rates(hyps, gt, weights, radius=2)['Elbow'] == 50
    assert probe.hit_rates(hyps, gt, weights, radius=2)['Wrist'] == 100


def test_borrowed_offsets(probe):
    """Person 0's groups sit at (5, 10) and (9, 10) (mean maximum at (5, 10): the taller one), person 1's at
    (12, 20) and (12, 14) (mean maximum (12, 20)). Own offsets give back the groups' maxima; swapped ones move
    person 0's maximum by (0, -6) and person 1's by (4, 0)."""
    p0 = torch.stack([gaussian_heatmaps([(5, 10)]), 0.8 * gaussian_heatmaps([(9, 10)])], dim=1)
    p1 = torch.stack([gaussian_heatmaps([(12, 20)]), 0.8 * gaussian_heatmaps([(12, 14)])], dim=1)
    groups = torch.cat([p0, p1])  # (2, 2, 1, 32, 24)

    def locs(hyps):
        return [[divmod(hyps[b, n, 0].flatten().argmax().item(), 24)[::-1] for n in range(2)] for b in range(2)]

    own = probe.borrowed_offsets(groups, torch.tensor([0, 1]))
    assert float(own.sum()) == 4 and locs(own) == [[(5, 10), (9, 10)], [(12, 20), (12, 14)]]
    assert locs(probe.borrowed_offsets(groups, torch.tensor([1, 0]))) == [[(5, 10), (5, 4)], [(12, 20), (16, 20)]]
    # offsets that leave the map are clipped to its border
    far = torch.cat([p0, torch.stack([gaussian_heatmaps([(12, 20)]), 0.8 * gaussian_heatmaps([(0, 20)])], dim=1)])
    assert locs(probe.borrowed_offsets(far, torch.tensor([1, 0])))[0] == [(5, 10), (0, 10)]


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


def untrained_work_dir(tmp_path, heatmap_head=False):
    """A work dir with the tiny config (or its HeatmapHead variant) and an untrained checkpoint."""
    data_root = tmp_path / 'data'
    make_synthetic_posetrack(str(data_root), seed=0, num_train_videos=1, num_val_videos=1, train_frames=8, val_frames=5)
    cfg = Config.fromfile(str(REPO / 'configs' / 'diffpose' / 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'))
    cfg.val_dataloader.dataset.data_root = str(data_root) + '/'
    if heatmap_head:
        cfg.model.head = heatmap_head_like(cfg.model.head)
        cfg.model.test_cfg = heatmap_test_cfg(cfg.model.test_cfg)
    work_dir = tmp_path / 'run'
    work_dir.mkdir()
    cfg.dump(str(work_dir / 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'))
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    save_checkpoint(model.state_dict(), str(work_dir / 'epoch_1.pth'))
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    return work_dir


def test_probe_heatmap_head_work_dir(probe, tmp_path):
    rows = probe.main([str(untrained_work_dir(tmp_path, heatmap_head=True)), '--grid', '3x1', '1x1'])
    assert [what for _, what, _ in rows] == ['heatmaps', 'heatmaps: best of top-3 peaks (oracle)']
    assert all(rows[1][2][k] >= rows[0][2][k] for k in rows[0][2])  # hypothesis 0 is the maximum


def test_probe_diffpose_work_dir(probe, tmp_path, capsys):
    work_dir = untrained_work_dir(tmp_path)
    rows = probe.main([str(work_dir), '--timesteps', '0', '999', '--grid', '2x1', '1x1'])
    assert [what for _, what, _ in rows] == [
        'x0 from q_sample(GT, t=0)', 'x0 from q_sample(GT, t=999)', 'sampler N=2 steps=1',
        'sampler N=2 steps=1: cluster vote', 'sampler N=2 steps=1: best of 2 (oracle)',
        'sampler N=2 steps=1: best of top-2 peaks of the mean (oracle)',
        "sampler N=2 steps=1: best of 2, another person's offsets (oracle)", 'sampler N=1 steps=1'
    ]
    assert all(0 <= v <= 100 for _, _, rates in rows for v in rates.values())
    # the peaks' hypothesis 0 is the mean heatmap's maximum: the oracle can only add hits
    assert all(rows[5][2][k] >= rows[2][2][k] for k in rows[2][2])
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
