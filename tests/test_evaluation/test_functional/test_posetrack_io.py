"""Reading/writing PoseTrack per-video files, on MMPose's real PoseTrack18 GT fixture."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from diffpose_mm.datasets.posetrack_format import POSETRACK18_KEYPOINTS, POSETRACK_JOINTS
from diffpose_mm.evaluation.functional import (evaluate_posetrack_dir, load_posetrack_dir, load_posetrack_file,
                                               posetrack_joint_ap, write_posetrack_predictions)


@pytest.fixture(scope='module')
def gt_dir(posetrack18_fixture) -> Path:
    """The fixture's per-video GT files."""
    return posetrack18_fixture / 'annotations' / 'val'


@pytest.fixture(scope='module')
def gt_videos(gt_dir) -> dict:
    assert gt_dir.is_dir(), f'MMPose PoseTrack18 GT fixture not found at {gt_dir}'
    return {p.name: json.loads(p.read_text()) for p in sorted(gt_dir.glob('*.json'))}


def dump(folder: Path, videos: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in videos.items():
        (folder / name).write_text(json.dumps(data))
    return folder


def perturbed(videos: dict, seed: int = 0) -> dict:
    """GT as predictions with noisy joints and random scores (an imperfect prediction)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, data in videos.items():
        data = json.loads(json.dumps(data))
        for ann in data['annotations']:
            k = np.array(ann['keypoints'], float).reshape(-1, 3)
            labelled = k[:, 2] > 0
            k[labelled, :2] += rng.normal(0, 12, (labelled.sum(), 2))
            ann['keypoints'] = k.ravel().tolist()
            ann['scores'] = rng.random(len(k)).tolist()
        out[name] = data
    return out


def to_posetrack17(data: dict) -> dict:
    """The same video in the PoseTrack17 ``annolist`` layout (poseval's ``convert.py`` mapping)."""
    names = data['categories'][0]['keypoints']
    annolist = []
    for image in data['images']:
        rects = []
        for ann in (a for a in data['annotations'] if a['image_id'] == image['id']):
            k = np.array(ann['keypoints'], float).reshape(-1, 3)
            scores = ann.get('scores') or []
            points = []
            for i, name in enumerate(names):
                if name in POSETRACK_JOINTS and not (k[i] == 0).all():
                    point = dict(id=[POSETRACK_JOINTS.index(name)], x=[k[i, 0]], y=[k[i, 1]])
                    if scores:
                        point['score'] = [scores[i]]
                    points.append(point)
            rect = dict(track_id=[ann['track_id']], annopoints=[dict(point=points)])
            if 'bbox_head' in ann:
                x, y, w, h = ann['bbox_head']
                rect.update(x1=[x], y1=[y], x2=[x + w], y2=[y + h])
            rects.append(rect)
        regions = [
            dict(point=[dict(x=[x], y=[y]) for x, y in zip(xs, ys)])
            for xs, ys in zip(image.get('ignore_regions_x', []), image.get('ignore_regions_y', []))
        ]
        annolist.append(dict(image=[dict(name=image['file_name'])], annorect=rects, ignore_regions=regions))
    return dict(annolist=annolist)


def test_gt_as_prediction_gives_100(gt_dir, gt_videos):
    gt_frames, pred_frames = load_posetrack_dir(str(gt_dir), str(gt_dir))
    assert len(gt_frames) == 3
    # 14 people, each with the head-box and the 15-joint layout
    assert sum(len(f['keypoints']) for f in gt_frames) == sum(len(v['annotations']) for v in gt_videos.values()) == 14
    np.testing.assert_allclose(posetrack_joint_ap(gt_frames, pred_frames), np.full(15, 100.))
    summary = evaluate_posetrack_dir(str(gt_dir), str(gt_dir))
    assert list(summary) == ['Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Total']
    assert all(v == pytest.approx(100.) for v in summary.values())


def test_file_is_read_in_the_15_joint_order(gt_dir, gt_videos):
    frames = load_posetrack_file(str(gt_dir / '009473_mpii_test.json'), is_gt=True)
    ann = gt_videos['009473_mpii_test.json']['annotations'][0]
    k17 = np.array(ann['keypoints']).reshape(17, 3)
    frame = frames[0]
    assert frame['image_id'] == ann['image_id'] and frame['is_labeled']
    for j, name in enumerate(POSETRACK_JOINTS):
        src = POSETRACK18_KEYPOINTS.index(name)
        np.testing.assert_allclose(frame['keypoints'][0, j], k17[src, :2])
        assert frame['keypoints_visible'][0, j] == (k17[src, 2] > 0)
    x, y, w, h = ann['bbox_head']
    np.testing.assert_allclose(frame['head_bboxes'][0], [x, y, x + w, y + h])
    assert len(frame['ignore_regions']) == 2 and frame['ignore_regions'][0].shape[1] == 2


def test_imperfect_prediction_in_both_layouts(gt_dir, gt_videos, tmp_path):
    pred = perturbed(gt_videos)
    dump(tmp_path / 'pt18', pred)
    ap18 = posetrack_joint_ap(*load_posetrack_dir(str(gt_dir), str(tmp_path / 'pt18')))
    assert np.all(ap18 < 100) and np.all(ap18 > 0)
    # PoseTrack17 layout for GT and predictions gives the same numbers
    dump(tmp_path / 'gt17', {n: to_posetrack17(v) for n, v in gt_videos.items()})
    dump(tmp_path / 'pr17', {n: to_posetrack17(v) for n, v in pred.items()})
    ap17 = posetrack_joint_ap(*load_posetrack_dir(str(tmp_path / 'gt17'), str(tmp_path / 'pr17')))
    np.testing.assert_allclose(ap17, ap18)


def test_only_zero_points_are_not_predictions(gt_dir, gt_videos, tmp_path):
    # GT as predictions (100 everywhere) plus an extra person in video 003418 scoring 0.9 on every joint,
    # ranked before all true positives (GT files carry no scores: poseval's fallback -9999).
    # All its points (0, 0, 0): "not predicted", nothing changes. All (1000, 1000, 0) (a free spot of
    # that frame): v = 0 alone does not remove a point, so every joint gets a leading false positive.
    for point, below_100 in (([0., 0., 0.], False), ([1000., 1000., 0.], True)):
        pred = json.loads(json.dumps(gt_videos))
        video = pred['003418_mpii_test.json']
        video['annotations'].append(
            dict(image_id=video['images'][0]['id'], track_id=99, keypoints=point * 17, scores=[.9] * 17))
        ap = posetrack_joint_ap(*load_posetrack_dir(str(gt_dir), str(dump(tmp_path / str(below_100), pred))))
        if below_100:
            assert np.all(ap < 100) and np.all(ap > 50)
        else:
            np.testing.assert_allclose(ap, np.full(15, 100.))


def test_write_predictions_covers_every_frame(gt_dir, tmp_path, gt_videos):
    img_id = gt_videos['009473_mpii_test.json']['images'][0]['id']
    kpts = np.arange(34, dtype=float).reshape(17, 2)
    preds = {img_id: [dict(keypoints=kpts, keypoint_scores=np.full(17, .8), scores=np.full(17, .4), score=.7)] * 2}
    written = write_posetrack_predictions(str(gt_dir), str(tmp_path), preds)
    assert sorted(Path(p).name for p in written) == sorted(gt_videos)
    for name, gt in gt_videos.items():
        data = json.loads((tmp_path / name).read_text())
        assert [i['id'] for i in data['images']] == [i['id'] for i in gt['images']]
        assert data['categories'][0]['keypoints'] == list(POSETRACK18_KEYPOINTS)
        anns = data['annotations']
        if name != '009473_mpii_test.json':
            assert anns == []  # frames without predictions are still listed, with no people
            continue
        assert [a['track_id'] for a in anns] == [0, 1] and all(a['image_id'] == img_id for a in anns)
        k = np.array(anns[0]['keypoints']).reshape(17, 3)
        np.testing.assert_allclose(k[:, :2], kpts)
        np.testing.assert_allclose(k[:, 2], .8)
        np.testing.assert_allclose(anns[0]['scores'], .4)
        assert anns[0]['score'] == pytest.approx(.7)


def _break(gt_videos, tmp_path, edit):
    pred = json.loads(json.dumps(gt_videos))
    edit(pred)
    return str(dump(tmp_path / 'pred', pred))


def test_errors_name_the_file(gt_dir, gt_videos, tmp_path):
    pred_dir = tmp_path / 'pred'
    shutil.copytree(gt_dir, pred_dir)
    (pred_dir / '012834_mpii_test.json').unlink()
    with pytest.raises(FileNotFoundError, match=r'pred/012834_mpii_test\.json does not exist'):
        load_posetrack_dir(str(gt_dir), str(pred_dir))
    shutil.rmtree(pred_dir)

    def extra_frame(p):
        p['003418_mpii_test.json']['images'].append(dict(id=1, file_name='x.jpg'))

    with pytest.raises(ValueError, match=r'003418_mpii_test\.json has 2 frames but the GT file'):
        load_posetrack_dir(str(gt_dir), _break(gt_videos, tmp_path, extra_frame))
    shutil.rmtree(pred_dir)

    def short_keypoints(p):
        p['009473_mpii_test.json']['annotations'][1]['keypoints'] = [1., 2., 1.] * 16

    with pytest.raises(ValueError, match=r'009473_mpii_test\.json \(annotation id=.*51 numbers'):
        load_posetrack_dir(str(gt_dir), _break(gt_videos, tmp_path, short_keypoints))
    shutil.rmtree(pred_dir)

    def bad_scores(p):
        p['009473_mpii_test.json']['annotations'][0]['scores'] = [0.5] * 15

    with pytest.raises(ValueError, match=r'009473_mpii_test\.json .*"scores" must have 17'):
        load_posetrack_dir(str(gt_dir), _break(gt_videos, tmp_path, bad_scores))

    gt = json.loads(json.dumps(gt_videos['009473_mpii_test.json']))
    del gt['annotations'][0]['bbox_head']
    (tmp_path / 'gt.json').write_text(json.dumps(gt))
    with pytest.raises(ValueError, match=r'gt\.json .*needs "bbox_head"'):
        load_posetrack_file(str(tmp_path / 'gt.json'), is_gt=True)
    (tmp_path / 'gt.json').write_text('{"images": [')
    with pytest.raises(ValueError, match=r'gt\.json is not valid json'):
        load_posetrack_file(str(tmp_path / 'gt.json'), is_gt=True)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match=r'no per-video \*\.json files in .*empty'):
        load_posetrack_dir(str(tmp_path / 'empty'), str(gt_dir))


# Annotated GT joints per evaluated joint in the real fixture, counted by hand from annotations/val/*.json
# (keypoints with v > 0), in poseval's 15-joint order; the right knee of 003418 lies inside an ignore region,
# so right_knee is 11 - 1 = 10.
FIXTURE_NUM_GT = dict(right_ankle=10, right_knee=10, right_hip=13, left_hip=13, left_knee=10, left_ankle=10,
                      right_wrist=11, right_elbow=14, right_shoulder=14, left_shoulder=14, left_elbow=10, left_wrist=11,
                      head_bottom=14, nose=13, head_top=14)


@pytest.mark.parametrize(
    'ghost_score, expected',
    [
        # An unmatched extra person ranked above every true joint: for joint j the ranking is one false positive
        # followed by n_j hits, so precision at recall k/n_j is k/(k+1); the monotone envelope is n_j/(n_j+1)
        # everywhere, hence AP_j = 100 * n_j / (n_j + 1).
        (2.0, {
            name: 100 * n / (n + 1)
            for name, n in FIXTURE_NUM_GT.items()
        }),
        # Ranked below every true joint it only adds precision points after recall 1: AP_j = 100.
        (0.5, {
            name: 100.
            for name in FIXTURE_NUM_GT
        }),
    ])
def test_real_fixture_with_an_unmatched_extra_person(gt_dir, gt_videos, tmp_path, ghost_score, expected):
    preds = json.loads(json.dumps(gt_videos))
    for data in preds.values():
        for ann in data['annotations']:
            ann['scores'] = [1.0] * 17
    video = preds['009473_mpii_test.json']
    ghost = np.zeros((17, 3))
    # below both people of 009473 (their joints end at y = 832, half a head size is < 60 px) and outside the
    # frame's two ignore regions (x < 640, y < 763 and x > 1032, 211 < y < 657)
    ghost[:, :2] = [760, 1000]
    ghost[:, 0] += np.arange(17)
    ghost[:, 2] = 1
    video['annotations'].append(
        dict(image_id=video['images'][0]['id'], track_id=99, keypoints=ghost.ravel().tolist(),
             scores=[ghost_score] * 17))
    gt_frames, pred_frames = load_posetrack_dir(str(gt_dir), str(dump(tmp_path / 'pred', preds)))
    ap = posetrack_joint_ap(gt_frames, pred_frames)
    np.testing.assert_allclose(ap, [expected[name] for name in POSETRACK_JOINTS])
