import json

import numpy as np
import pytest

from diffpose_mm.apis import VideoFrames, instance_scores, oks_suppress, write_video_predictions
from diffpose_mm.datasets.posetrack_format import PERSON_CATEGORY, POSETRACK18_KEYPOINTS
from diffpose_mm.evaluation.functional import evaluate_posetrack_dir


def test_instance_scores_are_the_metrics_bbox_keypoint_scores():
    kpt_scores = np.array([[0.9, 0.1, 0.5, 0.21], [0.1, 0.2, 0.05, 0.]])
    scores = instance_scores(kpt_scores, np.array([0.8, 0.5]))
    # box score x mean of the keypoint scores above 0.2 (CocoMetric 'bbox_keypoint'); none above -> 0
    np.testing.assert_allclose(scores, [0.8 * (0.9 + 0.5 + 0.21) / 3, 0.])


def test_oks_suppress_drops_duplicates_of_a_better_pose():
    rng = np.random.RandomState(0)
    pose = rng.uniform(0, 100, (17, 2))
    keypoints = np.stack([pose, pose + 0.5, pose + 60])
    keep = oks_suppress(keypoints, np.ones((3, 17)), np.array([0.5, 0.9, 0.7]), np.full(3, 100. * 100.),
                        np.full(17, 0.05), thr=0.9)
    assert keep.tolist() == [1, 2]  # 0 is a near copy of the better-scoring 1


def test_written_file_is_read_by_the_posetrack_evaluation(frame_folder, tmp_path):
    frames = VideoFrames(str(frame_folder))
    gt_kpts = np.random.RandomState(1).uniform(5, 40, (17, 2))
    visible = np.ones(17)
    visible[[3, 4]] = 0  # ears
    gt = dict(
        images=[
            dict(id=frames.image_id(i), file_name=f'images/val/000007_demo/{i:06d}.png', nframes=7, is_labeled=i == 2)
            for i in range(7)
        ], annotations=[
            dict(id=1, image_id=frames.image_id(2), track_id=0, bbox=[0, 0, 48, 64], bbox_head=[10, 5, 10, 10],
                 keypoints=np.concatenate([gt_kpts * visible[:, None], visible[:, None]], 1).ravel().tolist())
        ], categories=[PERSON_CATEGORY])
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'gt' / '000007_demo.json').write_text(json.dumps(gt))
    person = dict(keypoints=gt_kpts, keypoint_scores=np.full(17, 0.9), score=0.9, track_id=5)
    wrong = dict(keypoints=gt_kpts + 30, keypoint_scores=np.full(17, 0.2), score=0.2, track_id=8)
    people = [[] for _ in range(7)]
    people[2] = [person, wrong]
    people[4] = [dict(person, track_id=5)]
    path = write_video_predictions(str(tmp_path / 'pred'), frames, people)
    assert path == str(tmp_path / 'pred' / '000007_demo.json')
    data = json.loads(open(path).read())
    assert [img['id'] for img in data['images']] == [frames.image_id(i) for i in range(7)]
    assert data['images'][2]['file_name'] == 'val/000007_demo/000002.png'
    assert [(a['image_id'], a['track_id'])
            for a in data['annotations']] == [(frames.image_id(2), 5), (frames.image_id(2), 8),
                                              (frames.image_id(4), 5)]  # the tracker's ids
    assert data['categories'][0]['keypoints'] == list(POSETRACK18_KEYPOINTS)
    np.testing.assert_allclose(np.array(data['annotations'][0]['keypoints']).reshape(17, 3)[:, :2], gt_kpts)
    summary = evaluate_posetrack_dir(str(tmp_path / 'gt'), str(tmp_path / 'pred'))
    assert summary['Total'] == pytest.approx(100.)  # the right pose outranks the wrong one on every joint
    with pytest.raises(ValueError, match='6 frames of predictions for 7 frames'):
        write_video_predictions(str(tmp_path / 'pred'), frames, people[:6])
