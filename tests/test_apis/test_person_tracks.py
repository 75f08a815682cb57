import numpy as np

from diffpose_mm.apis import IoUPersonTracker


def box(x, y=0., w=10., h=20., score=0.9):
    return [x, y, x + w, y + h, score]


def test_ids_follow_overlapping_boxes_and_new_people_get_new_ids():
    tracker = IoUPersonTracker(iou_thr=0.3)
    assert tracker.update(np.array([box(0), box(50)], np.float32)).tolist() == [0, 1]
    # both move a little and come in the other order: each keeps its id
    assert tracker.update(np.array([box(52), box(2)], np.float32)).tolist() == [1, 0]
    # a third person appears far away: new id; nobody inherits a free id
    assert tracker.update(np.array([box(4), box(54), box(100)], np.float32)).tolist() == [0, 1, 2]


def test_hand_off_when_one_person_leaves_and_another_enters_elsewhere():
    tracker = IoUPersonTracker(iou_thr=0.3)
    tracker.update(np.array([box(0), box(50)], np.float32))
    # person 0 leaves; person 1 stays; a new person enters where nobody was: 2, not the freed 0
    assert tracker.update(np.array([box(51), box(120)], np.float32)).tolist() == [1, 2]
    # a person appearing where 0 was two frames ago is not matched to 0 (only the last frame is searched)
    assert tracker.update(np.array([box(0), box(52), box(121)], np.float32)).tolist() == [3, 1, 2]


def test_crossing_people_are_matched_by_most_overlap_in_score_order():
    tracker = IoUPersonTracker(iou_thr=0.3)
    tracker.update(np.array([box(0, score=0.9), box(8, score=0.8)], np.float32))
    # one box overlaps both previous boxes; the higher-scoring new box picks first (the one it overlaps most)
    ids = tracker.update(np.array([box(7, score=0.5), box(1, score=0.95)], np.float32))
    assert ids.tolist() == [1, 0]


def test_frames_without_boxes_keep_the_tracks():
    """A detection file covers only labelled frames (every 4th in PoseTrack val): ids continue across gaps."""
    tracker = IoUPersonTracker()
    tracker.update(np.array([box(0), box(50)], np.float32))
    for _ in range(3):
        assert tracker.update(np.zeros((0, 5), np.float32)).tolist() == []
    assert tracker.update(np.array([box(49), box(1)], np.float32)).tolist() == [1, 0]
    assert tracker.update(np.array([[0, 0, 10, 20]], np.float32)).tolist() == [0]  # boxes without scores
