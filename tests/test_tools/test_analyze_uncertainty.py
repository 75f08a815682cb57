"""tools/analysis/analyze_uncertainty.py: rank statistics, the per-group table, and a DiffPose + HeatmapHead work dir
analysed end to end through the CLI."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import save_checkpoint
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from scipy.stats import spearmanr

from diffpose_mm.models.heads.baselines import heatmap_head_like
from diffpose_mm.testing import make_synthetic_posetrack
from diffpose_mm.utils import with_data_root

REPO = Path(__file__).resolve().parents[2]

COLUMNS = ['Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'All', 'All (degraded)']
LABELLED = [0, 1, 2] + list(range(5, 17))  # PoseTrack: ears never labelled


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('tools/analysis/analyze_uncertainty.py')


# ------------------------------------------------------------------------------------------------ statistics
def test_spearman_values(tool):
    assert tool.spearman([1, 2, 3, 4], [1, 8, 27, 64]) == pytest.approx(1.0)  # monotone, not linear
    assert tool.spearman([1, 2, 3, 4], [64, 27, 8, 1]) == pytest.approx(-1.0)
    # one swap per pair: d = (-1, 1, -1, 1, 0), rho = 1 - 6 * 4 / (5 * 24) = 0.8
    assert tool.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # ties get average ranks: x ranks (1, 2.5, 2.5, 4) -> rho = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10)
    assert tool.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(3 / math.sqrt(10))
    assert math.isnan(tool.spearman([1, 1, 1], [1, 2, 3]))  # constant: undefined
    assert math.isnan(tool.spearman([1, 2, 3], [5, 5, 5]))
    assert math.isnan(tool.spearman([1], [2]))
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 50), rng.integers(0, 5, 50)  # many ties
    assert tool.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic)
    with pytest.raises(ValueError, match='same length'):
        tool.spearman([1, 2], [1, 2, 3])


def test_auroc_values(tool):
    assert tool.auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert tool.auroc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert tool.auroc([0.3] * 4, [0, 1, 0, 1]) == 0.5
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered right
    assert tool.auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    # positives 0.5, 0.9 vs negatives 0.5, 0.2: (0.5 vs 0.5) is a tie = 1/2 -> 3.5 / 4
    assert tool.auroc([0.5, 0.5, 0.2, 0.9], [True, False, False, True]) == pytest.approx(0.875)
    assert math.isnan(tool.auroc([0.1, 0.2], [1, 1]))
    assert math.isnan(tool.auroc([0.1, 0.2], [0, 0]))


# ------------------------------------------------------------------------------------------------ table
def hand_records(bases=(0.1, 0.3, 0.7, 0.9, 1.1), degraded=(False, True, True, False, False)):
    """One person per base error; joint j gets error ``base + 0.001 j`` (all distinct, all on one side of 0.5)."""
    joint = np.tile(LABELLED, len(bases))
    sample = np.repeat(np.arange(len(bases)), len(LABELLED))
    error = np.asarray(bases)[sample] + 0.001 * joint
    return dict(error=error, joint=joint, degraded=np.asarray(degraded)[sample], sample=sample)


def test_table_signal_equal_to_error_is_perfect(tool):
    rec = hand_records()
    rec.update(spread=rec['error'] * 7., score=1. - rec['error'])  # both signals rank exactly like the error
    rows = tool.uncertainty_table(dict(run=rec))
    assert [(r['run'], r['signal']) for r in rows] == [('run', 'spread'), ('run', '1 - score')]
    for row in rows:
        assert list(row['columns']) == COLUMNS
        for col, v in row['columns'].items():
            assert v['spearman'] == pytest.approx(1.0), (row['signal'], col)
            assert v['auroc'] == pytest.approx(1.0), (row['signal'], col)
    cols = rows[0]['columns']
    # samples 2, 3, 4 (errors 0.7, 0.9, 1.1) are wrong; the degraded key frames are samples 1 (right) and 2 (wrong)
    assert cols['Wrist']['num'] == 2 * 5 and cols['Wrist']['wrong'] == pytest.approx(0.6)
    assert cols['Head']['num'] == 3 * 5 and cols['All']['num'] == 15 * 5
    assert cols['All (degraded)']['num'] == 15 * 2 and cols['All (degraded)']['wrong'] == pytest.approx(0.5)
    # a stricter threshold moves the base rate (and the label AUROC is measured against)
    assert tool.uncertainty_table(dict(run=rec), thr=1.0)[0]['columns']['All']['wrong'] == pytest.approx(0.2)


def test_table_selects_groups_and_degraded_frames(tool):
    rec = hand_records()
    wrist = np.isin(rec['joint'], [9, 10])
    # spread ranks right except on the wrists, where it is reversed
    rec['spread'] = np.where(wrist, -rec['error'], rec['error'])
    # 1 - score ranks right on the degraded key frames only, reversed elsewhere
    rec['score'] = 1. - np.where(rec['degraded'], rec['error'], -rec['error'])
    spread, score = tool.uncertainty_table(dict(run=rec))
    assert spread['columns']['Wrist']['spearman'] == pytest.approx(-1.0)
    assert spread['columns']['Wrist']['auroc'] == pytest.approx(0.0)
    for col in ('Head', 'Shoulder', 'Elbow', 'Hip', 'Knee', 'Ankle'):
        assert spread['columns'][col]['spearman'] == pytest.approx(1.0)
    for col in ('All', 'All (degraded)'):  # the reversed wrists are mixed in
        assert -1 < spread['columns'][col]['spearman'] < 1
    assert score['columns']['All (degraded)']['spearman'] == pytest.approx(1.0)
    assert score['columns']['All (degraded)']['auroc'] == pytest.approx(1.0)
    assert score['columns']['All']['auroc'] < 1
    # per group, 2 of the 5 people are degraded: 1 - score agrees with the error on them only
    expected = spearmanr(score_signal := 1. - rec['score'][wrist], rec['error'][wrist]).statistic
    assert score['columns']['Wrist']['spearman'] == pytest.approx(expected)
    assert score['columns']['Wrist']['auroc'] == pytest.approx(tool.auroc(score_signal, rec['error'][wrist] > 0.5))


def test_table_without_spread_and_constant_spread(tool):
    rec = hand_records()
    rec['score'] = 1. - rec['error']
    rows = tool.uncertainty_table(dict(baseline=rec))
    assert [r['signal'] for r in rows] == ['1 - score']  # a plain heatmap head reports no spread
    rec['spread'] = np.zeros_like(rec['error'])  # N = 1: no information
    spread = tool.uncertainty_table(dict(n1=rec))[0]
    assert spread['signal'] == 'spread'
    assert math.isnan(spread['columns']['All']['spearman'])
    assert spread['columns']['All']['auroc'] == 0.5
    rec['degraded'][:] = False  # no degraded key frame (e.g. real PoseTrack)
    empty = tool.uncertainty_table(dict(clean=rec))[0]['columns']['All (degraded)']
    assert empty['num'] == 0 and math.isnan(empty['wrong']) and math.isnan(empty['auroc'])
    assert '(0)' in tool.format_table(tool.uncertainty_table(dict(clean=rec)))


# ------------------------------------------------------------------------------------------------ end to end
def _work_dir(path: Path, cfg: Config, noise_gain: float = 1.) -> Path:
    """A "finished training" work dir: dumped config + untrained checkpoint + last_checkpoint."""
    path.mkdir()
    cfg.dump(str(path / 'config.py'))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    if noise_gain != 1:
        # an untrained DiffPose decoder hardly listens to its noisy input, so all N groups decode to the same
        # locations (spread = 0 everywhere); amplifying the heatmap input makes the groups disagree somewhere
        with torch.no_grad():
            model.head.heatmap_embed.weight.mul_(noise_gain)
    save_checkpoint(model.state_dict(), str(path / 'epoch_1.pth'))
    (path / 'last_checkpoint').write_text(str(path / 'epoch_1.pth'))
    return path


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('uncertainty')
    # seed 1, 9 val frames: key frames 0 and 4 are blurred, 8 is clean (6 people)
    make_synthetic_posetrack(
        str(root / 'data'), seed=1, num_train_videos=1, num_val_videos=1, train_frames=6, val_frames=9,
        img_size=(160, 120))
    cfg = Config.fromfile(str(REPO / 'configs' / 'diffpose' / 'td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'))
    # the dumped configs point at a data root that does not exist here: --data-root must redirect them
    cfg = with_data_root(cfg, 'data/elsewhere')
    diffpose = _work_dir(root / 'diffpose', cfg, noise_gain=10.)
    cfg.model.head = heatmap_head_like(cfg.model.head)  # the HeatmapHead row of run_ablations.py
    baseline = _work_dir(root / 'heatmap_head', cfg)
    return root, diffpose, baseline


def test_seed_summary_mean_and_std_over_runs_of_the_same_name(tool):

    def row(run, signal, all_auroc, degraded_auroc):
        columns = {c: dict(spearman=0., auroc=all_auroc, wrong=.1, num=10) for c in COLUMNS}
        columns['All (degraded)']['auroc'] = degraded_auroc
        return dict(run=run, signal=signal, columns=columns)

    rows = [
        row('w/seed0/delta2', 'spread', .60, .70),
        row('w/seed0/delta2', '1 - score', .80, .90),
        row('w/seed1/delta2', 'spread', .64, float('nan')),
        row('w/seed1/delta2', '1 - score', .84, .86),
        row('w/seed0/heatmap_head', '1 - score', .83, .83)  # one run: no summary row
    ]
    summary = tool.seed_summary(rows)
    assert [(s['run'], s['signal'], s['num_runs']) for s in summary] == [('delta2', 'spread', 2),
                                                                         ('delta2', '1 - score', 2)]
    spread, score = summary
    assert spread['columns']['All']['auroc'] == pytest.approx(.62)
    assert spread['columns']['All']['std'] == pytest.approx(np.std([.60, .64], ddof=1))
    # a NaN AUROC (one class only) is left out: one value, no std
    assert spread['columns']['All (degraded)']['auroc'] == pytest.approx(.70)
    assert math.isnan(spread['columns']['All (degraded)']['std'])
    assert score['columns']['All (degraded)']['auroc'] == pytest.approx(.88)
    lines = tool.format_summary(summary).splitlines()
    assert [c.strip() for c in lines[0].strip('|').split('|')] == ['run', 'signal', 'runs'] + COLUMNS
    cells = [c.strip() for c in lines[2].strip('|').split('|')]
    assert cells[:3] == ['delta2', 'spread: AUROC', '2'] and cells[-2:] == ['0.62 ± 0.03', '0.70']
    assert tool.seed_summary(rows[-1:]) == []


class OffsetModel:
    """Stands in for a model: predicts joint j at (j / 10) head sizes from the GT (read from the json, not from
    the data sample), with score j / 100 and, if ``spread``, spread 2 j."""

    def __init__(self, gt: dict, spread: bool = True):
        self.anns = {a['id']: a for a in gt['annotations']}
        self.spread = spread
        self.batch_sizes = []

    def test_step(self, batch: dict) -> list:
        self.batch_sizes.append(len(batch['data_samples']))
        j = np.arange(17)
        for sample in batch['data_samples']:
            ann = self.anns[sample.metainfo['id']]
            head_size = 0.6 * math.hypot(*ann['bbox_head'][2:])
            offset = head_size * j[:, None] / 10 * np.array([[0.6, -0.8]])  # a unit direction
            pred = InstanceData(
                keypoints=(np.reshape(ann['keypoints'], (17, 3))[:, :2] + offset)[None],
                keypoint_scores=(j / 100)[None])
            if self.spread:
                pred.keypoint_spread = (2. * j)[None]
            sample.pred_instances = pred
        return batch['data_samples']


def test_collect_records_values(tool, runs):
    root, diffpose, _ = runs
    cfg, _ = tool.load_run(str(diffpose), str(root / 'data'))
    gt = json.loads((root / 'data' / 'annotations' / 'posetrack18_val.json').read_text())
    model = OffsetModel(gt)
    rec = tool.collect_records(cfg, model, batch_size=4)
    assert model.batch_sizes == [4, 2]  # 6 people in batches of 4
    people = [a for a in gt['annotations'] if a.get('keypoints') and max(a['keypoints']) > 0]
    labelled = [(a['id'], j) for a in people for j in range(17) if a['keypoints'][3 * j + 2] > 0]
    assert sorted(zip(rec['ann_id'].tolist(), rec['joint'].tolist())) == sorted(labelled)
    assert set(rec['joint']) == set(LABELLED)
    np.testing.assert_allclose(rec['error'], rec['joint'] / 10, atol=1e-4)
    np.testing.assert_allclose(rec['score'], rec['joint'] / 100)
    np.testing.assert_allclose(rec['spread'], 2 * rec['joint'])
    degraded = [i['id'] for i in gt['images'] if i['degradation'] != 'none']
    np.testing.assert_array_equal(rec['degraded'], np.isin(rec['img_id'], degraded))
    assert 0 < rec['degraded'].sum() < len(rec['degraded'])
    ann_img = {a['id']: a['image_id'] for a in people}
    assert all(ann_img[a] == i for a, i in zip(rec['ann_id'], rec['img_id']))

    rec = tool.collect_records(cfg, OffsetModel(gt, spread=False))
    assert 'spread' not in rec and len(rec['error']) == len(labelled)


def test_cli_end_to_end(tool, runs, tmp_path, capsys):
    root, diffpose, baseline = runs
    out = tmp_path / 'uncertainty.json'
    rows = tool.main([
        str(diffpose),
        str(baseline), '--data-root',
        str(root / 'data'), '--out',
        str(out), '--thr', '2', '--cfg-options', 'model.test_cfg.num_noise_groups=3', 'model.test_cfg.sampling_steps=1'
    ])
    assert [(r['run'], r['signal']) for r in rows] == [('diffpose', 'spread'), ('diffpose', '1 - score'),
                                                       ('heatmap_head', '1 - score')]
    for row in rows:
        assert list(row['columns']) == COLUMNS
        for col, v in row['columns'].items():
            assert v['num'] > 0 and 0 <= v['wrong'] <= 1, (row['run'], col)
            # AUROC is defined exactly when the column has right and wrong joints
            assert math.isfinite(v['auroc']) == (0 < v['wrong'] < 1), (row['run'], row['signal'], col)
            assert math.isnan(v['auroc']) or 0 <= v['auroc'] <= 1
        assert 0 < row['columns']['All']['wrong'] < 1  # --thr 2 is inside the untrained models' error range
        assert math.isfinite(row['columns']['All']['spearman'])  # the signals and errors vary
        assert -1 <= row['columns']['All']['spearman'] <= 1
    assert rows[0]['columns']['All']['num'] == rows[2]['columns']['All']['num']  # same joints for both models
    text = capsys.readouterr().out
    assert 'diffpose: N=3 steps=1 flip_test=True' in text and 'heatmap_head: flip_test=True' in text
    header = next(line for line in text.splitlines() if line.startswith('| run'))
    assert [c.strip() for c in header.strip('|').split('|')] == ['run', 'signal'] + COLUMNS
    assert text.count('wrong % (n)') == 2 and 'spread: rho / AUROC' in text
    assert 'same name' not in text  # two differently named runs: no seed summary
    saved = json.loads(out.read_text())
    assert saved['columns'] == COLUMNS and len(saved['rows']) == 3
    assert saved['runs']['diffpose']['ann_file'] == str(root / 'data' / 'annotations' / 'posetrack18_val.json')
    assert saved['runs']['diffpose']['test_cfg']['num_noise_groups'] == 3
    assert saved['rows'][0]['columns']['All']['spearman'] == pytest.approx(rows[0]['columns']['All']['spearman'])


def test_rejects_unfinished_work_dir(tool, tmp_path):
    with pytest.raises(FileNotFoundError, match='last_checkpoint'):
        tool.main([str(tmp_path)])
    (tmp_path / 'config.py').write_text("model = dict()\n")
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone' / 'epoch_9.pth'))
    with pytest.raises(FileNotFoundError, match='epoch_9.pth'):
        tool.load_run(str(tmp_path))
    with pytest.raises(ValueError, match='data_root'):
        tool.load_run(str(tmp_path), data_root='data/other')
