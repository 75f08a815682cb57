"""Properties of the functional PoseTrack AP on small seeded random scenes.

``test_functional/test_posetrack_ap.py`` checks hand-derived APs of hand-made frames; here the frames are
random and the checks are invariances and inequalities that must hold whatever the data:

- a random scene (:func:`scene`) has a few frames, each with 1-4 GT people 400 px apart (joints spread
  over 120 x 200 px, head size 13-38 px, so a joint can only ever match the joint of its own person),
  some GT joints unannotated, a noisy prediction for most GT people (some joints beyond 0.5 head sizes,
  i.e. false positives), some unpredicted joints, unmatched extra people 2000 px below and continuous
  random scores (no ties, so the ranking and the person assignment are unique);
- the APs of these scenes lie strictly between 0 and 100 for most joints (checked in
  :func:`test_random_scenes_are_not_trivial`), so the properties below are not vacuous.
"""
import copy

import numpy as np
import pytest

from diffpose_mm.datasets.posetrack_format import POSETRACK_JOINTS
from diffpose_mm.evaluation.functional import match_frame, posetrack_joint_ap, summarize_posetrack_ap, voc_ap

J = len(POSETRACK_JOINTS)
SEEDS = (0, 1, 2)


def scene(seed: int, num_frames: int = 4) -> tuple:
    """Random aligned (gt_frames, pred_frames), see the module docstring."""
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for _ in range(num_frames):
        num_gt = int(rng.integers(1, 5))
        origin = np.stack([400. * np.arange(num_gt) + rng.uniform(0, 50, num_gt),
                           rng.uniform(100, 300, num_gt)], axis=1)
        gt_kpts = origin[:, None] + rng.uniform((0, 0), (120, 200), (num_gt, J, 2))
        gt_vis = rng.random((num_gt, J)) < 0.85
        # head box (x1, y1, x2, y2) just above the person, 0.6 * diagonal in [13, 38] px
        size = rng.uniform((18, 20), (40, 50), (num_gt, 2))
        top_left = origin - np.array([0., 50.])
        heads = np.concatenate([top_left, top_left + size], axis=1)
        head_size = 0.6 * np.linalg.norm(size, axis=1)

        pr_kpts, pr_vis = [], []
        for g in range(num_gt):
            if rng.random() < 0.85:  # a noisy prediction of GT person g: ~1/4 of its joints miss
                noise = rng.normal(0., 0.3 * head_size[g], (J, 2))
                pr_kpts.append(gt_kpts[g] + noise)
                pr_vis.append(rng.random(J) < 0.9)
        for _ in range(int(rng.integers(0, 3))):  # extra people, far from every GT person
            pr_kpts.append(np.array([rng.uniform(0, 1500), 2000.]) + rng.uniform(0, 150, (J, 2)))
            pr_vis.append(rng.random(J) < 0.9)
        order = rng.permutation(len(pr_kpts))  # extra people are not always listed last
        gts.append(dict(keypoints=gt_kpts, keypoints_visible=gt_vis, head_bboxes=heads, ignore_regions=[]))
        preds.append(
            dict(
                keypoints=np.array(pr_kpts).reshape(-1, J, 2)[order],
                keypoints_visible=np.array(pr_vis, bool).reshape(-1, J)[order], keypoint_scores=rng.random(
                    (len(order), J))))
    return gts, preds


def frame_labels(gt: dict, pred: dict) -> np.ndarray:
    """(P, J) bool: which predicted joints of a frame are true positives."""
    return match_frame(gt, pred)[0]


def with_person(pred: dict, index: int, kpts, vis, scores) -> dict:
    """``pred`` with one person inserted at position ``index``."""
    return dict(
        keypoints=np.insert(pred['keypoints'], index, kpts,
                            axis=0), keypoints_visible=np.insert(pred['keypoints_visible'], index, vis, axis=0),
        keypoint_scores=np.insert(pred['keypoint_scores'], index, scores, axis=0))


@pytest.mark.parametrize('seed', SEEDS)
def test_random_scenes_are_not_trivial(seed):
    gts, preds = scene(seed)
    ap = posetrack_joint_ap(gts, preds)
    assert ap.shape == (J, ) and np.all((ap >= 0) & (ap <= 100))
    # the properties below would hold vacuously at 0 or 100
    assert np.sum((ap > 0) & (ap < 100)) >= 10, ap
    labels = np.concatenate([frame_labels(g, p)[p['keypoints_visible']] for g, p in zip(gts, preds)])
    assert labels.any() and not labels.all()


def interpolated_ap(scores, labels, num_gt: int) -> float:
    """Reference VOC AP, written from its definition: every true positive adds 1 / num_gt of recall at the
    best precision reached at that rank or any lower one."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    hits = [bool(labels[i]) for i in order]
    precision = [sum(hits[:k + 1]) / (k + 1) for k in range(len(hits))]
    return 100. * sum(max(precision[k:]) for k in range(len(hits)) if hits[k]) / num_gt


@pytest.mark.parametrize('seed', range(20))
def test_voc_ap_equals_interpolated_precision_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    scores = rng.random(n)
    labels = rng.random(n) < rng.random()
    num_gt = int(labels.sum() + rng.integers(0 if labels.any() else 1, 5))  # some GT may be missed
    assert voc_ap(scores, labels, num_gt) == pytest.approx(interpolated_ap(scores, labels, num_gt))


@pytest.mark.parametrize('seed', SEEDS)
def test_invariant_to_order_of_people_and_frames(seed):
    gts, preds = scene(seed)
    ap = posetrack_joint_ap(gts, preds)
    rng = np.random.default_rng(100 + seed)
    shuffled = []
    for pred in preds:
        order = rng.permutation(len(pred['keypoints']))
        shuffled.append({k: v[order] for k, v in pred.items()})
    np.testing.assert_allclose(posetrack_joint_ap(gts, shuffled), ap)
    # the GT people of a frame and the frames themselves are unordered too
    gts_shuffled = []
    for gt in gts:
        order = rng.permutation(len(gt['keypoints']))
        gts_shuffled.append({k: v[order] if k != 'ignore_regions' else v for k, v in gt.items()})
    frames = rng.permutation(len(gts))
    np.testing.assert_allclose(posetrack_joint_ap([gts_shuffled[i] for i in frames], [shuffled[i] for i in frames]), ap)


@pytest.mark.parametrize('seed', SEEDS)
def test_invariant_to_monotone_rescoring(seed):
    # only the ranking of the joint scores matters, not their values
    gts, preds = scene(seed)
    ap = posetrack_joint_ap(gts, preds)
    rescored = [dict(p, keypoint_scores=np.exp(3 * p['keypoint_scores']) - 7) for p in preds]
    np.testing.assert_allclose(posetrack_joint_ap(gts, rescored), ap)


@pytest.mark.parametrize('seed', SEEDS)
@pytest.mark.parametrize('scale, shift', [(0.37, (0., 0.)), (4., (-250., 1300.)), (1., (1e4, -3e3))])
def test_invariant_to_scaling_and_shifting_the_image(seed, scale, shift):
    # PCKh is relative to the head size, so scaling every coordinate, head box and ignore region together
    # (and shifting them) changes nothing; an ignore region over one GT person is included
    gts, preds = scene(seed)
    x1, y1 = gts[0]['keypoints'][0].min(axis=0) - 1
    x2, y2 = gts[0]['keypoints'][0].max(axis=0) + 1
    gts[0]['ignore_regions'] = [np.array([[x1, y1], [x2, y1], [x2, (y1 + y2) / 2], [x1, y2]])]
    ap = posetrack_joint_ap(gts, preds)
    assert not np.allclose(ap, posetrack_joint_ap([dict(g, ignore_regions=[]) for g in gts], preds))

    shift = np.array(shift)
    moved_gts = [
        dict(g, keypoints=g['keypoints'] * scale + shift, head_bboxes=g['head_bboxes'] * scale + np.tile(shift, 2),
             ignore_regions=[r * scale + shift for r in g['ignore_regions']]) for g in gts
    ]
    moved_preds = [dict(p, keypoints=p['keypoints'] * scale + shift) for p in preds]
    np.testing.assert_allclose(posetrack_joint_ap(moved_gts, moved_preds), ap)
    # scaling the GT head boxes alone does change the AP (more or fewer joints within 0.5 head sizes)
    bigger = [dict(g, head_bboxes=g['head_bboxes'] + np.array([0., 0., 20., 20.])) for g in gts]
    assert not np.allclose(posetrack_joint_ap(bigger, preds), ap)


@pytest.mark.parametrize('seed', SEEDS)
def test_false_positive_ranked_last_costs_nothing(seed):
    # An extra person far from every GT is a false positive at every joint. Ranked above the true positives it
    # lowers the AP of every joint that has any; scored below all true positives, the AP is exactly as if the
    # extra person were not there.
    gts, preds = scene(seed)
    ap = posetrack_joint_ap(gts, preds)
    extra = np.array([700., 2500.]) + np.random.default_rng(seed).uniform(0, 150, (J, 2))
    vis = np.ones(J, bool)

    def ap_with_extra(score: float) -> np.ndarray:
        frames = [with_person(preds[1], 0, extra, vis, np.full(J, score))] + preds[2:]
        return posetrack_joint_ap(gts, preds[:1] + frames)

    high, low = ap_with_extra(2.), ap_with_extra(-1.)
    np.testing.assert_allclose(low, ap)
    assert np.all(high[ap > 0] < ap[ap > 0]) and np.all(high <= ap)

    # the same for single false-positive joints of matched people: lowering their scores below every true
    # positive gives the AP of removing them from the prediction
    lowered = copy.deepcopy(preds)
    removed = copy.deepcopy(preds)
    num_fp = 0
    for gt, low_pred, rm_pred in zip(gts, lowered, removed):
        labels = frame_labels(gt, low_pred)
        matched = labels.any(axis=1, keepdims=True)  # people assigned to a GT person
        fp = matched & ~labels & low_pred['keypoints_visible']
        low_pred['keypoint_scores'][fp] -= 10.
        rm_pred['keypoints_visible'] = rm_pred['keypoints_visible'] & ~fp
        num_fp += fp.sum()
    assert num_fp > 0
    ap_lowered = posetrack_joint_ap(gts, lowered)
    np.testing.assert_allclose(ap_lowered, posetrack_joint_ap(gts, removed))
    assert np.all(ap_lowered >= ap - 1e-9) and np.any(ap_lowered > ap)


@pytest.mark.parametrize('seed', SEEDS)
def test_lower_scored_duplicate_cannot_raise_ap(seed):
    # Copies of matched people, scored lower than the original and listed anywhere in the frame: whichever
    # of the two the assignment keeps, the other is a false positive, so no joint AP can go up.
    gts, preds = scene(seed)
    ap = posetrack_joint_ap(gts, preds)
    rng = np.random.default_rng(200 + seed)
    duplicated = []
    for gt, pred in zip(gts, preds):
        matched = np.flatnonzero(frame_labels(gt, pred).any(axis=1))
        copies = [(pred['keypoints'][p], pred['keypoints_visible'][p],
                   pred['keypoint_scores'][p] * rng.uniform(0.2, 0.95, J)) for p in matched]
        for kpts, vis, scores in copies:
            pred = with_person(pred, int(rng.integers(0, len(pred['keypoints']) + 1)), kpts, vis, scores)
        duplicated.append(pred)
    assert sum(len(p['keypoints']) for p in duplicated) > sum(len(p['keypoints']) for p in preds)
    ap_dup = posetrack_joint_ap(gts, duplicated)
    assert np.all(ap_dup <= ap + 1e-9), ap_dup - ap
    # the duplicates are counted (as false positives), not ignored
    assert np.any(ap_dup < ap - 1e-6)


GROUP_JOINTS = {  # the published PoseTrack table, written out independently of POSETRACK_GROUPS
    'Head': ('head_top', 'head_bottom', 'nose'),
    'Shoulder': ('left_shoulder', 'right_shoulder'),
    'Elbow': ('left_elbow', 'right_elbow'),
    'Wrist': ('left_wrist', 'right_wrist'),
    'Hip': ('left_hip', 'right_hip'),
    'Knee': ('left_knee', 'right_knee'),
    'Ankle': ('left_ankle', 'right_ankle'),
}


@pytest.mark.parametrize('seed', SEEDS)
def test_summary_is_mean_of_joints(seed):
    ap = posetrack_joint_ap(*scene(seed))
    summary = summarize_posetrack_ap(ap)
    assert list(summary) == list(GROUP_JOINTS) + ['Total']
    by_name = dict(zip(POSETRACK_JOINTS, ap))
    assert sorted(n for names in GROUP_JOINTS.values() for n in names) == sorted(POSETRACK_JOINTS)
    for group, names in GROUP_JOINTS.items():
        assert summary[group] == pytest.approx(np.mean([by_name[n] for n in names])), group
    # Total is the mean of the 15 joints; the mean of the 7 groups weights Head's joints less
    assert summary['Total'] == pytest.approx(ap.mean())
    group_mean = np.mean([summary[g] for g in GROUP_JOINTS])
    assert summary['Total'] == pytest.approx(sum(summary[g] * len(n) for g, n in GROUP_JOINTS.items()) / J)
    assert abs(summary['Total'] - group_mean) > 1e-6
