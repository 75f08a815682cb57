import json

import numpy as np
import pytest

from diffpose_mm.apis import DetectionFileBoxes, MMDetPersonDetector, VideoFrames


def write_dets(path, dets):
    path.write_text(json.dumps(dets))
    return str(path)


def test_detection_file_boxes_per_frame_by_image_id_and_image_name(frame_folder, tmp_path):
    frames = VideoFrames(str(frame_folder))  # PoseTrack video 7: image ids 1000007000i
    path = write_dets(
        tmp_path / 'dets.json',
        [
            dict(image_id=10000070000, bbox=[1, 2, 10, 20], score=0.9, category_id=1),
            dict(image_id=10000070000, bbox=[5, 5, 4, 4], score=0.3),
            dict(image_id=10000070000, bbox=[5, 5, 4, 4], score=0.8, category_id=2),  # not a person: skipped
            dict(image_name='images/val/000007_demo/000003.png', bbox=[0, 0, 8, 8, 0.5], score=0.7),
            dict(image_id=10000080000, bbox=[0, 0, 1, 1], score=1.0),  # another video: ignored
        ])
    boxes = DetectionFileBoxes(path).boxes_for(frames)
    assert len(boxes) == 7 and [len(b) for b in boxes] == [2, 0, 0, 1, 0, 0, 0]
    np.testing.assert_allclose(boxes[0], [[1, 2, 11, 22, 0.9], [5, 5, 9, 9, 0.3]], rtol=1e-6)
    np.testing.assert_allclose(boxes[3], [[0, 0, 8, 8, 0.7]])
    assert boxes[1].shape == (0, 5) and boxes[0].dtype == np.float32


def test_detection_file_errors_name_the_file_and_field(frame_folder, tmp_path):
    frames = VideoFrames(str(frame_folder))
    with pytest.raises(FileNotFoundError, match='detection file .*nope.json does not exist'):
        DetectionFileBoxes(str(tmp_path / 'nope.json'))
    for dets, match in [
        (dict(a=1), 'expected a list of detections, got dict'),
        ([dict(image_id=1, score=0.5)], r'detection \[0\] has no field "bbox"'),
        ([dict(image_id=1, bbox=[0, 0, 1, 1])], r'detection \[0\] has no field "score"'),
        ([dict(image_id=1, bbox=[0, 0, 1], score=1)], r'detection \[0\] field "bbox" must start with 4 numbers'),
        ([dict(bbox=[0, 0, 1, 1], score=1)], r'detection \[0\] has neither "image_id" nor "image_name"'),
        ([], 'holds no person detections'),
        ([dict(image_id=1, bbox=[0, 0, 1, 1], score=1, category_id=2)], 'holds no person detections'),
    ]:
        with pytest.raises(ValueError, match=match):
            DetectionFileBoxes(write_dets(tmp_path / 'bad.json', dets))
    # a detection file of other frames / videos: say which ids and names this video has
    other = write_dets(tmp_path / 'other.json', [
        dict(image_id=10000080003, bbox=[0, 0, 1, 1], score=1),
        dict(image_name='val/000008_x/000003.jpg', bbox=[0, 0, 1, 1], score=1)
    ])
    with pytest.raises(ValueError) as error:
        DetectionFileBoxes(other).boxes_for(frames)
    message = str(error.value)
    assert 'other.json: none of its detections is on a frame of video 000007_demo' in message
    assert '"image_id" 10000070000 .. 10000070006' in message and '000007_demo/000000.png' in message
    assert '10000080003' in message and '000008_x/000003.jpg' in message


@pytest.fixture(scope='module')
def random_detector(videos):
    """mmdet's RTMDet-tiny with random weights at 160x160, 2 boxes per image; every class counts as a person."""
    detector = MMDetPersonDetector(videos.rtmdet_config(), None, 'cpu', cat_ids=list(range(80)))
    videos.confident(detector)
    return detector


def test_mmdet_detector_boxes_and_errors(random_detector, videos, tmp_path):
    frame = np.random.RandomState(0).randint(0, 255, (96, 128, 3)).astype(np.uint8)
    boxes = random_detector(frame, score_thr=0.)
    assert boxes.shape[1] == 5 and 1 <= len(boxes) <= 2 and boxes.dtype == np.float32
    assert (np.diff(boxes[:, 4]) <= 0).all()  # by descending score
    assert random_detector(frame, score_thr=1.1).shape == (0, 5)
    with pytest.raises(FileNotFoundError, match='detector config .*nope.py does not exist'):
        MMDetPersonDetector(str(tmp_path / 'nope.py'))
    with pytest.raises(FileNotFoundError, match='detector checkpoint .*nope.pth does not exist'):
        MMDetPersonDetector('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py', str(tmp_path / 'nope.pth'))
