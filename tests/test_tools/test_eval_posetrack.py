"""tools/analysis/eval_posetrack.py on MMPose's real PoseTrack18 GT fixture."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

GROUPS = ['Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Total']


@pytest.fixture(scope='module')
def cli(load_tool):
    return load_tool('tools/analysis/eval_posetrack.py')


@pytest.fixture(scope='module')
def gt_dir(posetrack18_fixture) -> Path:
    return posetrack18_fixture / 'annotations' / 'val'


def test_gt_as_prediction(gt_dir, cli, tmp_path, capsys):
    assert gt_dir.is_dir(), f'MMPose PoseTrack18 GT fixture not found at {gt_dir}'
    out = tmp_path / 'ap.json'
    assert cli.main([str(gt_dir), str(gt_dir), '--out', str(out)]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert [h.strip() for h in header.split('|')] == GROUPS
    assert [float(v) for v in row.split('|')] == [100.] * 8
    result = json.loads(out.read_text())
    assert list(result) == GROUPS and all(v == pytest.approx(100.) for v in result.values())


def test_imperfect_prediction(gt_dir, cli, tmp_path, capsys):
    # one person's left wrist moved 300 px away: that wrist becomes a false positive and its GT wrist
    # is missed, so Wrist drops below 100 while e.g. Knee stays 100
    pred_dir = tmp_path / 'pred'
    shutil.copytree(gt_dir, pred_dir)
    path = pred_dir / '012834_mpii_test.json'
    data = json.loads(path.read_text())
    wrist = data['categories'][0]['keypoints'].index('left_wrist')
    ann = next(a for a in data['annotations'] if a['keypoints'][3 * wrist + 2] > 0)
    ann['keypoints'][3 * wrist] += 300
    path.write_text(json.dumps(data))
    out = tmp_path / 'ap.json'
    assert cli.main([str(gt_dir), str(pred_dir), '--out', str(out)]) == 0
    result = json.loads(out.read_text())
    assert result['Wrist'] < 100 and result['Knee'] == pytest.approx(100.)
    assert result['Total'] < 100
    # the printed row is the json, rounded
    row = capsys.readouterr().out.splitlines()[1]
    np.testing.assert_allclose([float(v) for v in row.split('|')], [round(result[g], 1) for g in GROUPS])


def _fails(cli, capsys, gt_dir, pred_dir, *patterns):
    assert cli.main([str(gt_dir), str(pred_dir)]) == 1
    err = capsys.readouterr().err
    for pattern in patterns:
        assert pattern in err, err


def test_bad_input_names_the_file(gt_dir, cli, tmp_path, capsys):
    pred_dir = tmp_path / 'pred'
    shutil.copytree(gt_dir, pred_dir)
    (pred_dir / '009473_mpii_test.json').unlink()
    _fails(cli, capsys, gt_dir, pred_dir, str(pred_dir / '009473_mpii_test.json'), 'does not exist')

    shutil.copy(gt_dir / '009473_mpii_test.json', pred_dir)
    path = pred_dir / '003418_mpii_test.json'
    data = json.loads(path.read_text())
    data['images'] = data['images'] * 2
    path.write_text(json.dumps(data))
    _fails(cli, capsys, gt_dir, pred_dir, str(path), 'has 2 frames', 'has 1')

    shutil.copy(gt_dir / '003418_mpii_test.json', pred_dir)
    path = pred_dir / '012834_mpii_test.json'
    data = json.loads(path.read_text())
    data['annotations'][3]['keypoints'] = data['annotations'][3]['keypoints'][:-3]
    path.write_text(json.dumps(data))
    _fails(cli, capsys, gt_dir, pred_dir, str(path), f'annotation id={data["annotations"][3]["id"]}',
           '"keypoints" must be a flat list of 17 x 3')

    _fails(cli, capsys, tmp_path / 'missing', pred_dir, str(tmp_path / 'missing'), 'does not exist')
