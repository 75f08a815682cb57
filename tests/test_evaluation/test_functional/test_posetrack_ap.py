"""Per-joint PoseTrack AP (poseval protocol) on hand-made frames with hand-derived APs.

Every hand-made person below has all 15 joints on a vertical line, 50 px apart, and a 30 x 40 head box:
head size = 0.6 * sqrt(30^2 + 40^2) = 30 px, so a joint matches within 0.5 * 30 = 15 px, and joints of the
same person never get within 15 px of each other.

VOC AP (poseval's ``VOCap``) for the rankings used below, one joint:
- [TP] with 1 GT:                 precision 1 up to recall 1                          -> 100
- [FP] with 1 GT:                 no true positive                                   -> 0
- [FP, TP] with 1 GT:             precision 1/2 at recall 1                           -> 50
- [TP, FP] with 1 GT:             precision 1 at recall 1 (the FP comes after)        -> 100
- [FP, TP] with 2 GT:             precision 1/2 at recall 1/2, recall 1 never reached -> 25
- [TP] with 2 GT:                 precision 1 at recall 1/2                           -> 50
"""
import numpy as np
import pytest

from diffpose_mm.datasets.posetrack_format import POSETRACK_JOINTS
from diffpose_mm.evaluation.functional import format_posetrack_table, posetrack_joint_ap, summarize_posetrack_ap, voc_ap

J = len(POSETRACK_JOINTS)
NOSE = POSETRACK_JOINTS.index('nose')
R_ANKLE = POSETRACK_JOINTS.index('right_ankle')
L_WRIST = POSETRACK_JOINTS.index('left_wrist')
R_WRIST = POSETRACK_JOINTS.index('right_wrist')


def person(x0: float, y0: float = 0.) -> np.ndarray:
    """(15, 2) joints of a hand-made person: joint j at (x0, y0 + 50 j)."""
    return np.stack([np.full(J, x0), y0 + 50. * np.arange(J)], axis=1)


def gt_frame(people, visible=None, ignore_regions=(), is_labeled=True) -> dict:
    kpts = np.array(people, dtype=np.float64).reshape(-1, J, 2)
    vis = np.ones(kpts.shape[:2], bool) if visible is None else np.array(visible, bool)
    # head box 30 x 40 (head size 30 px) above each person's first joint
    heads = np.array([[p[0, 0], p[0, 1] - 40., p[0, 0] + 30., p[0, 1]] for p in kpts]).reshape(-1, 4)
    return dict(keypoints=kpts, keypoints_visible=vis, head_bboxes=heads, ignore_regions=list(ignore_regions),
                is_labeled=is_labeled)


def pred_frame(people, scores, visible=None) -> dict:
    kpts = np.array(people, dtype=np.float64).reshape(-1, J, 2)
    scores = np.broadcast_to(np.array(scores, np.float64).reshape(len(kpts), -1), kpts.shape[:2])
    frame = dict(keypoints=kpts, keypoint_scores=scores.copy())
    if visible is not None:
        frame['keypoints_visible'] = np.array(visible, bool)
    return frame


def expected(default: float, **joints: float) -> np.ndarray:
    ap = np.full(J, default)
    for name, value in joints.items():
        ap[POSETRACK_JOINTS.index(name)] = value
    return ap


def test_voc_ap_matches_hand_derivation():
    assert voc_ap([0.9], [True], 1) == pytest.approx(100)
    assert voc_ap([0.9], [False], 1) == pytest.approx(0)
    assert voc_ap([0.9, 0.5], [False, True], 1) == pytest.approx(50)
    assert voc_ap([0.9, 0.5], [True, False], 1) == pytest.approx(100)
    assert voc_ap([0.9, 0.5], [False, True], 2) == pytest.approx(25)
    assert voc_ap([0.5], [True], 2) == pytest.approx(50)
    # no detections -> 0 (poseval keeps its initial zero); detections but no GT -> NaN (poseval's 0/0)
    assert voc_ap([], [], 3) == 0
    assert np.isnan(voc_ap([0.5], [False], 0))


@pytest.mark.parametrize('offset, ankle_ap', [(14.9, 100.), (15.1, 0.)])
def test_joint_just_inside_and_outside_half_head_size(offset, ankle_ap):
    # The prediction is the GT with the right ankle moved `offset` px (threshold 15 px). The person still
    # matches (PCKh 14/15 or 15/15), so the ankle is [TP] (14.9 px) or [FP] (15.1 px) for 1 GT.
    gt = person(100.)
    pred = gt.copy()
    pred[R_ANKLE] += (offset * 0.6, offset * 0.8)  # a diagonal move of length `offset`
    ap = posetrack_joint_ap([gt_frame([gt])], [pred_frame([pred], 0.5)])
    np.testing.assert_allclose(ap, expected(100., right_ankle=ankle_ap))
    # Total is the mean of the 15 joints: (14 * 100 + ankle) / 15; Ankle is the mean of left and right
    summary = summarize_posetrack_ap(ap)
    assert summary['Total'] == pytest.approx((14 * 100 + ankle_ap) / 15)
    assert summary['Ankle'] == pytest.approx((100 + ankle_ap) / 2)


def test_point_inside_ignore_region_is_removed():
    # GT people A (x=100) and B (x=1000). A's nose lies in a 80 x 80 ignore square; A's predicted nose is
    # 30 px off (a FP if counted) but inside the square too. Nose scores: A' 0.9, B' 0.5.
    a, b = person(100.), person(1000.)
    a_pred = a.copy()
    a_pred[NOSE] += (30., 0.)
    cx, cy = a[NOSE]
    square = np.array([[cx - 40, cy - 40], [cx + 40, cy - 40], [cx + 40, cy + 40], [cx - 40, cy + 40]])
    scores = np.full((2, J), 0.5)
    scores[0, NOSE] = 0.9
    pred = pred_frame([a_pred, b], scores)
    # without the region: nose ranking [FP 0.9, TP 0.5] for 2 GT noses -> 25
    ap = posetrack_joint_ap([gt_frame([a, b])], [pred])
    np.testing.assert_allclose(ap, expected(100., nose=25.))
    # with it: A's GT nose and A's predicted nose are both removed -> [TP] for 1 GT -> 100
    ap = posetrack_joint_ap([gt_frame([a, b], ignore_regions=[square])], [pred])
    np.testing.assert_allclose(ap, expected(100.))
    # a region that contains only the GT nose removes that GT; the prediction stays a FP: [FP, TP], 1 GT
    only_gt = np.array([[cx - 40, cy - 40], [cx + 10, cy - 40], [cx + 10, cy + 40], [cx - 40, cy + 40]])
    ap = posetrack_joint_ap([gt_frame([a, b], ignore_regions=[only_gt])], [pred])
    np.testing.assert_allclose(ap, expected(100., nose=50.))


@pytest.mark.parametrize('extra_score, ap_all', [(0.9, 50.), (0.1, 100.)])
def test_unmatched_extra_person(extra_score, ap_all):
    # GT A; predictions: A exactly (scores 0.5) and an extra person E 1000 px away (PCKh 0, unmatched).
    # Every joint ranks [E FP, A TP] -> 50 when E scores higher, [A TP, E FP] -> 100 when lower.
    a = person(100.)
    pred = pred_frame([person(1100.), a], [[extra_score], [0.5]])
    ap = posetrack_joint_ap([gt_frame([a])], [pred])
    np.testing.assert_allclose(ap, np.full(J, ap_all))
    assert summarize_posetrack_ap(ap)['Total'] == pytest.approx(ap_all)


def test_duplicate_prediction_first_in_frame_wins():
    # Two exact copies of A: both have PCKh 1, poseval's argmax keeps the first one listed, whatever its
    # score. First copy scores 0.1 (TP), second 0.9 (FP): ranking [FP, TP] for 1 GT -> 50 everywhere.
    a = person(100.)
    ap = posetrack_joint_ap([gt_frame([a])], [pred_frame([a, a], [[0.1], [0.9]])])
    np.testing.assert_allclose(ap, np.full(J, 50.))


def test_unlabelled_frame_is_skipped():
    # Frame 1: GT A predicted exactly (0.5). Frame 2 has no GT people: its high-scoring prediction would be
    # a FP before A's TP ([FP, TP] -> 50) if it counted; skipped, every joint is [TP] -> 100.
    a = person(100.)
    gts = [gt_frame([a]), gt_frame(np.zeros((0, J, 2)))]
    preds = [pred_frame([a], 0.5), pred_frame([person(500.)], 0.9)]
    np.testing.assert_allclose(posetrack_joint_ap(gts, preds), np.full(J, 100.))
    # a frame marked is_labeled=False is skipped too, even with people in it (PoseTrack21 files)
    gts[1] = gt_frame([person(800.)], is_labeled=False)
    np.testing.assert_allclose(posetrack_joint_ap(gts, preds), np.full(J, 100.))
    # the same prediction in a labelled frame with another GT person: [FP 0.9, TP 0.5] for 2 GT -> 25
    gts[1] = gt_frame([person(800.)])
    np.testing.assert_allclose(posetrack_joint_ap(gts, preds), np.full(J, 25.))


def test_missing_joints():
    # GT A lacks its left wrist, B is complete; predictions A' (all joints, 0.9) and B' (0.5) are exact,
    # but B' does not predict its right wrist.
    # left wrist:  A' predicts one A does not have -> [FP 0.9, TP 0.5] for 1 GT -> 50
    # right wrist: only A' predicts it -> [TP] for 2 GT -> 50
    a, b = person(100.), person(1000.)
    gt_vis = np.ones((2, J), bool)
    gt_vis[0, L_WRIST] = False
    pr_vis = np.ones((2, J), bool)
    pr_vis[1, R_WRIST] = False
    ap = posetrack_joint_ap([gt_frame([a, b], visible=gt_vis)], [pred_frame([a, b], [[0.9], [0.5]], visible=pr_vis)])
    np.testing.assert_allclose(ap, expected(100., left_wrist=50., right_wrist=50.))
    summary = summarize_posetrack_ap(ap)
    assert summary['Wrist'] == pytest.approx(50.)
    assert summary['Total'] == pytest.approx((13 * 100 + 50 + 50) / 15)

    # no GT has a left wrist at all but it is predicted: AP is NaN (poseval's 0/0) and Total is the mean
    # of the other 14 joints; the Wrist group, a plain mean, is NaN
    gt_vis[1, L_WRIST] = False
    ap = posetrack_joint_ap([gt_frame([a, b], visible=gt_vis)], [pred_frame([a, b], [[0.9], [0.5]], visible=pr_vis)])
    assert np.isnan(ap[L_WRIST])
    summary = summarize_posetrack_ap(ap)
    assert summary['Total'] == pytest.approx((13 * 100 + 50) / 14)
    assert np.isnan(summary['Wrist'])


def test_bad_input_is_reported():
    a = person(100.)
    with pytest.raises(ValueError, match='2 prediction frames for 1 GT frames'):
        posetrack_joint_ap([gt_frame([a])], [pred_frame([a], 1.)] * 2)
    with pytest.raises(ValueError, match='expected 15 joint APs'):
        summarize_posetrack_ap(np.zeros(17))


def test_table_lists_groups_in_order():
    summary = summarize_posetrack_ap(expected(100., right_ankle=0.))
    header, row = format_posetrack_table(summary).splitlines()
    assert header.split('|') == [
        f'{k:>9}' for k in ('Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Total')
    ]
    assert [float(v) for v in row.split('|')] == [100., 100., 100., 100., 100., 100., 50., 93.3]
