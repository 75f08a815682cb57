"""PoseTrackMetric on MMPose's real PoseTrack18 fixture, with GT keypoints fed back as predictions."""
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmpose.datasets.datasets.utils import parse_pose_metainfo

from diffpose_mm.datasets.posetrack_format import POSETRACK18_KEYPOINTS, POSETRACK18_METAINFO_FILE, POSETRACK_JOINTS
from diffpose_mm.evaluation.metrics import PoseTrackMetric

GROUPS = ('Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Total')


@pytest.fixture(scope='module')
def ann_file(posetrack18_fixture) -> Path:
    return posetrack18_fixture / 'annotations' / 'test_posetrack18_val.json'


@pytest.fixture(scope='module')
def gt_dir(posetrack18_fixture) -> Path:
    return posetrack18_fixture / 'annotations' / 'val'


@pytest.fixture(scope='module')
def coco_gt(ann_file) -> dict:
    assert ann_file.is_file(), f'MMPose PoseTrack18 fixture not found at {ann_file}'
    return json.loads(ann_file.read_text())


@pytest.fixture(scope='module')
def dataset_meta() -> dict:
    return parse_pose_metainfo(dict(from_file=POSETRACK18_METAINFO_FILE))


def data_samples(coco_gt: dict, root: Path, bbox_score: float = 1.) -> list:
    """Top-down data samples (one person each) whose predictions are the GT keypoints; a joint's score is
    its GT visibility, so unannotated joints are (0, 0) with score 0, i.e. not predicted."""
    images = {img['id']: img for img in coco_gt['images']}
    samples = []
    for ann in coco_gt['annotations']:
        img = images[ann['image_id']]
        kpts = np.array(ann['keypoints'], dtype=np.float32).reshape(1, 17, 3)
        x, y, w, h = ann['bbox']
        samples.append(
            dict(
                id=ann['id'], img_id=ann['image_id'], img_path=str(root / img['file_name']), category_id=1,
                raw_ann_info=ann, ori_shape=(img['height'], img['width']),
                pred_instances=dict(keypoints=kpts[..., :2], keypoint_scores=kpts[..., 2],
                                    bboxes=np.array([[x, y, x + w, y + h]],
                                                    np.float32), bbox_scores=np.array([bbox_score], np.float32)),
                gt_instances=dict(bbox_scores=np.array([bbox_score], np.float32))))
    return samples


def run_metric(samples: list, dataset_meta: dict, ann_file: Path, **kwargs) -> dict:
    metric = PoseTrackMetric(ann_file=str(ann_file), **kwargs)
    metric.dataset_meta = dataset_meta
    for i in range(0, len(samples), 4):  # a few batches
        metric.process([], samples[i:i + 4])
    return metric.evaluate(size=len(samples))


# The one annotated GT point of the fixture inside an ignore region (the right knee of the person in
# video 003418, at (1416, 429); the image's 7th ignore polygon spans x 1307-1919): poseval removes it.
IGNORED_POINT = (1003418000000, 'right_knee', [1416, 429, 1])


def annotated_joints(coco_gt: dict, skip_image=None) -> np.ndarray:
    """Number of evaluated GT joints per poseval joint, optionally without one image."""
    count = np.zeros(len(POSETRACK_JOINTS))
    for ann in coco_gt['annotations']:
        if ann['image_id'] == skip_image:
            continue
        k = np.array(ann['keypoints']).reshape(17, 3)
        for j, name in enumerate(POSETRACK_JOINTS):
            count[j] += k[POSETRACK18_KEYPOINTS.index(name), 2] > 0
        if ann['id'] == IGNORED_POINT[0]:
            src = POSETRACK18_KEYPOINTS.index(IGNORED_POINT[1])
            assert k[src].tolist() == IGNORED_POINT[2]
            count[POSETRACK_JOINTS.index(IGNORED_POINT[1])] -= 1
    return count


def test_gt_as_prediction_gives_100(coco_gt, dataset_meta, posetrack18_fixture, ann_file, gt_dir, tmp_path):
    results = run_metric(
        data_samples(coco_gt, posetrack18_fixture), dataset_meta, ann_file, outfile_prefix=str(tmp_path / 'res'))
    for group in GROUPS:
        assert results[f'posetrack/{group}'] == pytest.approx(100.)
    # the COCO path ran on the same predictions: perfect keypoints give OKS 1, AP 1
    assert results['coco/AP'] == pytest.approx(1.)
    assert results['coco/AR'] == pytest.approx(1.)
    # one prediction file per GT video file, with every GT frame
    written = sorted(p.name for p in (tmp_path / 'res.posetrack').glob('*.json'))
    assert written == sorted(p.name for p in gt_dir.glob('*.json'))
    assert (tmp_path / 'res.keypoints.json').is_file()


def test_frame_without_predictions_costs_recall(coco_gt, dataset_meta, posetrack18_fixture, ann_file, tmp_path):
    # Drop all predictions of one image (2 people). Its frame is still written, with no people; the
    # remaining predictions are all exact, so each joint is only true positives and
    # AP_j = recall_j = (annotated joints j without that image) / (all annotated joints j).
    skip = next(img['id'] for img in coco_gt['images'] if '009473' in img['file_name'])
    samples = [s for s in data_samples(coco_gt, posetrack18_fixture) if s['img_id'] != skip]
    results = run_metric(samples, dataset_meta, ann_file, outfile_prefix=str(tmp_path / 'res'))
    joint_ap = 100 * annotated_joints(coco_gt, skip) / annotated_joints(coco_gt)
    assert results['posetrack/Total'] == pytest.approx(joint_ap.mean())
    head = [POSETRACK_JOINTS.index(n) for n in ('head_top', 'head_bottom', 'nose')]
    assert results['posetrack/Head'] == pytest.approx(joint_ap[head].mean())
    assert results['posetrack/Total'] < 100
    pred = json.loads((tmp_path / 'res.posetrack' / '009473_mpii_test.json').read_text())
    assert [img['id'] for img in pred['images']] == [skip] and pred['annotations'] == []


@pytest.mark.parametrize('joint_score_mode, factor', [('keypoint', 1.), ('keypoint_bbox', .5)])
def test_joint_score_mode(coco_gt, dataset_meta, posetrack18_fixture, ann_file, tmp_path, joint_score_mode, factor):
    # with box score 0.5 the ranking scores are the keypoint scores, or half of them (DCPose style)
    run_metric(
        data_samples(coco_gt, posetrack18_fixture, bbox_score=.5), dataset_meta, ann_file,
        joint_score_mode=joint_score_mode, outfile_prefix=str(tmp_path / 'res'))
    pred = json.loads((tmp_path / 'res.posetrack' / '012834_mpii_test.json').read_text())
    gt = {a['id']: a for a in coco_gt['annotations']}
    assert len(pred['annotations']) == 11
    for ann in pred['annotations']:
        k = np.array(ann['keypoints']).reshape(17, 3)
        # find the GT person this prediction came from (same keypoints)
        src = [a for a in gt.values() if np.allclose(np.array(a['keypoints']).reshape(17, 3)[:, :2], k[:, :2])]
        assert len(src) == 1
        vis = np.array(src[0]['keypoints']).reshape(17, 3)[:, 2]
        np.testing.assert_allclose(k[:, 2], vis)  # visibility column: raw keypoint score, as MMPose
        np.testing.assert_allclose(ann['scores'], vis * factor)


def test_img_id_fallback_to_file_name(coco_gt, dataset_meta, posetrack18_fixture, ann_file, tmp_path):
    # img_id that is not an image id of the GT files (e.g. a dataset index): matched by img_path
    samples = data_samples(coco_gt, posetrack18_fixture)
    for i, s in enumerate(samples):
        s['img_id'] = 1000 + i
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        results = run_metric(samples, dataset_meta, ann_file, outfile_prefix=str(tmp_path / 'res'))
    finally:
        logger.removeHandler(handler)
    assert results['posetrack/Total'] == pytest.approx(100.)
    assert results['coco/AP'] == pytest.approx(1.)
    assert any('14 predictions have an img_id' in m and 'by file name' in m for m in messages)
    # the table goes through MMEngine's logger
    table = [m for m in messages if m.startswith('PoseTrack AP')]
    assert len(table) == 1 and all(g in table[0] for g in GROUPS)

    # neither id nor path known: dropped (and logged); nothing left is an error
    for s in samples:
        s['img_path'] = '/nowhere/val/none/000000.jpg'
    with pytest.raises(ValueError, match='no prediction matches a frame of the GT files'):
        run_metric(samples, dataset_meta, ann_file)


def test_format_only_writes_files(coco_gt, dataset_meta, posetrack18_fixture, ann_file, tmp_path):
    results = run_metric(
        data_samples(coco_gt, posetrack18_fixture), dataset_meta, ann_file, format_only=True,
        outfile_prefix=str(tmp_path / 'res'))
    assert results == {}
    assert len(list((tmp_path / 'res.posetrack').glob('*.json'))) == 3


def test_bad_options(ann_file, gt_dir, tmp_path):
    with pytest.raises(ValueError, match='joint_score_mode must be one of'):
        PoseTrackMetric(ann_file=str(ann_file), joint_score_mode='bbox')
    with pytest.raises(FileNotFoundError, match='nowhere'):
        PoseTrackMetric(ann_file=str(ann_file), gt_dir=str(tmp_path / 'nowhere'))
    with pytest.raises(ValueError, match='needs gt_dir'):
        PoseTrackMetric()
    # gt_dir defaults like MMPose: xxx/test_posetrack18_val.json -> xxx/val
    assert Path(PoseTrackMetric(ann_file=str(ann_file)).gt_dir) == gt_dir


def test_derived_gt_dir_missing_names_ann_file_and_option(tmp_path):
    ann_file = tmp_path / 'annotations' / 'posetrack21_val.json'
    ann_file.parent.mkdir()
    ann_file.write_text('{"images": [], "annotations": [], "categories": []}')
    with pytest.raises(FileNotFoundError, match=r'derived from ann_file=.*posetrack21_val\.json.*set gt_dir='):
        PoseTrackMetric(ann_file=str(ann_file))
