"""Per-joint PoseTrack AP, computed as the official ``poseval`` toolkit does.

This is a numpy re-implementation of ``poseval.evaluateAP`` (leonid-pishchulin/poseval, the toolkit used
for the PoseTrack17/18 leaderboards and by MMPose's ``PoseTrack18Metric``), which is not on PyPI:

1. frames without GT people (unlabelled frames) are skipped, with their predictions;
2. GT and predicted points inside a GT ignore region are removed;
3. a predicted joint matches a GT joint if their distance is at most ``0.5`` head sizes (PCKh@0.5),
   ``head size = 0.6 * diagonal of the GT head box``;
4. each prediction keeps its best GT (highest PCKh), then each GT keeps its best prediction; a GT whose
   best PCKh is 0 stays unmatched;
5. every predicted joint is a detection: a true positive if its person is matched and the joint matches,
   else a false positive; detections are ranked by their joint score;
6. VOC AP per joint over all frames; ``Total`` is the mean of the 15 joint APs.

Nothing here touches files: frames come in as numpy arrays (see :func:`posetrack_joint_ap`); reading and
writing PoseTrack json files lives in :mod:`.posetrack_io`. The joints (:data:`POSETRACK_JOINTS`, poseval's
order) and the groups of the table come from :mod:`diffpose_mm.datasets.posetrack_format`.
"""
import warnings
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

import numpy as np

try:  # shapely >= 2.0: vectorised point-in-polygon
    from shapely import contains_xy
    from shapely.geometry import Polygon
except ImportError as e:  # pragma: no cover - only hit in broken environments
    raise ImportError('PoseTrack AP needs shapely>=2.0 for the ignore regions '
                      '(pip install "shapely>=2")') from e

from ...datasets.posetrack_format import (NUM_POSETRACK_JOINTS, POSETRACK_GROUPS, POSETRACK_JOINTS,
                                          POSETRACK_SUMMARY_KEYS)


def remove_ignored_points(keypoints: np.ndarray, keypoints_visible: np.ndarray,
                          ignore_regions: Sequence[np.ndarray]) -> np.ndarray:
    """Drop the points that lie strictly inside any ignore region.

    Args:
        keypoints (np.ndarray): (N, J, 2) point coordinates.
        keypoints_visible (np.ndarray): (N, J) bool, which points exist.
        ignore_regions (Sequence[np.ndarray]): polygons, each (V, 2) vertices (x, y).

    Returns:
        np.ndarray: (N, J) bool, ``keypoints_visible`` without the ignored points.
    """
    visible = np.asarray(keypoints_visible, dtype=bool).copy()
    if visible.size == 0:
        return visible
    x, y = keypoints[..., 0], keypoints[..., 1]
    for region in ignore_regions:
        region = np.asarray(region, dtype=np.float64).reshape(-1, 2)
        if len(region) < 3:  # no interior, so it cannot contain a point
            continue
        visible &= ~contains_xy(Polygon(region), x, y)
    return visible


def match_frame(gt: Dict[str, np.ndarray], pred: Dict[str, np.ndarray],
                dist_thr: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """Assign the predicted people of one frame to GT people and label their joints.

    Args:
        gt (dict): ``keypoints`` (G, J, 2), ``keypoints_visible`` (G, J) bool (annotated joints),
            ``head_bboxes`` (G, 4) head boxes ``x1, y1, x2, y2``.
        pred (dict): ``keypoints`` (P, J, 2), ``keypoints_visible`` (P, J) bool (predicted joints).
        dist_thr (float): match threshold in head sizes. Defaults to 0.5 (PCKh@0.5).

    Returns:
        tuple: ``labels`` (P, J) bool, true where the joint is a true positive, and ``pred_to_gt`` (G,)
        int, the prediction assigned to each GT person (-1 if none).
    """
    gt_kpts = np.asarray(gt['keypoints'], dtype=np.float64).reshape(-1, NUM_POSETRACK_JOINTS, 2)
    gt_vis = np.asarray(gt['keypoints_visible'], dtype=bool).reshape(-1, NUM_POSETRACK_JOINTS)
    pr_kpts = np.asarray(pred['keypoints'], dtype=np.float64).reshape(-1, NUM_POSETRACK_JOINTS, 2)
    pr_vis = np.asarray(pred['keypoints_visible'], dtype=bool).reshape(-1, NUM_POSETRACK_JOINTS)
    num_gt, num_pr = len(gt_kpts), len(pr_kpts)
    labels = np.zeros((num_pr, NUM_POSETRACK_JOINTS), dtype=bool)
    pred_to_gt = np.full(num_gt, -1, dtype=np.int64)
    if num_gt == 0 or num_pr == 0:
        return labels, pred_to_gt

    head = np.asarray(gt['head_bboxes'], dtype=np.float64).reshape(num_gt, 4)
    head_size = 0.6 * np.linalg.norm(head[:, 2:] - head[:, :2], axis=1)
    # (P, G, J); a degenerate head box gives inf/nan, i.e. no match, as in poseval
    with np.errstate(divide='ignore', invalid='ignore'):
        dist = np.linalg.norm(pr_kpts[:, None] - gt_kpts[None], axis=-1) / head_size[None, :, None]
    dist[~(pr_vis[:, None] & gt_vis[None])] = np.inf
    match = dist <= dist_thr

    # PCKh of every (prediction, GT) pair over the GT's annotated joints
    num_gt_joints = gt_vis.sum(axis=1)
    pck = match.sum(axis=2).astype(np.float64)
    pck = np.where(num_gt_joints[None] > 0, pck / np.maximum(num_gt_joints[None], 1), pck)

    # each prediction keeps its best GT only (first one on ties, as np.argmax in poseval) ...
    best_gt = np.argmax(pck, axis=1)
    keep = np.zeros_like(pck)
    keep[np.arange(num_pr), best_gt] = pck[np.arange(num_pr), best_gt]
    # ... then each GT keeps its best prediction; PCKh 0 means unmatched
    pred_to_gt = np.argmax(keep, axis=0)
    pred_to_gt[keep.max(axis=0) == 0] = -1
    for gt_idx, pr_idx in enumerate(pred_to_gt):
        if pr_idx >= 0:
            labels[pr_idx] = match[pr_idx, gt_idx]
    return labels, pred_to_gt


def voc_ap(scores: np.ndarray, labels: np.ndarray, num_gt: int) -> float:
    """VOC average precision (in %) of ranked detections, as ``poseval`` computes it.

    Args:
        scores (np.ndarray): (N,) detection scores (higher ranks first).
        labels (np.ndarray): (N,) bool, true positives.
        num_gt (int): number of GT instances.

    Returns:
        float: AP in [0, 100]; 0 without detections; NaN with detections but no GT (poseval's 0/0),
        which :func:`summarize_posetrack_ap` leaves out of the Total.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=bool).reshape(-1)
    if len(scores) == 0:
        return 0.0
    if num_gt == 0:
        return float('nan')
    # the same (unstable) sort as poseval so that ties rank identically
    order = scores.argsort()[::-1]
    tp = np.cumsum(labels[order])
    recall = tp / num_gt
    precision = tp / np.arange(1, len(tp) + 1)
    mrec = np.concatenate([[0.], recall, [1.]])
    mpre = np.concatenate([[0.], precision, [0.]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope
    idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mpre[idx]) * 100)


def posetrack_joint_ap(gt_frames: Sequence[dict], pred_frames: Sequence[dict], dist_thr: float = 0.5) -> np.ndarray:
    """Per-joint AP over aligned GT and prediction frames.

    Joints are in :data:`POSETRACK_JOINTS` order (J = 15).

    Args:
        gt_frames (Sequence[dict]): one dict per frame with

            - ``keypoints`` (G, J, 2): GT joint coordinates;
            - ``keypoints_visible`` (G, J) bool: annotated joints;
            - ``head_bboxes`` (G, 4): head boxes ``x1, y1, x2, y2`` (only used for people with joints);
            - ``ignore_regions`` (optional): list of (V, 2) polygons;
            - ``is_labeled`` (optional, default True): False skips the frame like an empty one.

        pred_frames (Sequence[dict]): one dict per GT frame with

            - ``keypoints`` (P, J, 2): predicted joint coordinates;
            - ``keypoint_scores`` (P, J): the scores that rank the joints;
            - ``keypoints_visible`` (optional, (P, J) bool): predicted joints; defaults to all.

        dist_thr (float): PCKh threshold in head sizes. Defaults to 0.5.

    Returns:
        np.ndarray: (J,) AP in % per joint.
    """
    if len(gt_frames) != len(pred_frames):
        raise ValueError(f'{len(pred_frames)} prediction frames for {len(gt_frames)} GT frames')
    scores: List[List[np.ndarray]] = [[] for _ in range(NUM_POSETRACK_JOINTS)]
    labels: List[List[np.ndarray]] = [[] for _ in range(NUM_POSETRACK_JOINTS)]
    num_gt = np.zeros(NUM_POSETRACK_JOINTS, dtype=np.int64)
    for gt, pred in zip(gt_frames, pred_frames):
        gt_kpts = np.asarray(gt['keypoints'], dtype=np.float64).reshape(-1, NUM_POSETRACK_JOINTS, 2)
        # unlabelled frame: poseval drops frames without GT people, predictions included
        if len(gt_kpts) == 0 or not gt.get('is_labeled', True):
            continue
        pr_kpts = np.asarray(pred['keypoints'], dtype=np.float64).reshape(-1, NUM_POSETRACK_JOINTS, 2)
        pr_scores = np.asarray(pred['keypoint_scores'], dtype=np.float64).reshape(-1, NUM_POSETRACK_JOINTS)
        pr_vis = pred.get('keypoints_visible')
        pr_vis = np.ones(pr_scores.shape, bool) if pr_vis is None else np.asarray(pr_vis, bool)
        regions = gt.get('ignore_regions') or []
        gt_vis = remove_ignored_points(gt_kpts, gt['keypoints_visible'], regions)
        pr_vis = remove_ignored_points(pr_kpts, pr_vis.reshape(pr_scores.shape), regions)

        frame_labels, _ = match_frame(
            dict(keypoints=gt_kpts, keypoints_visible=gt_vis, head_bboxes=gt['head_bboxes']),
            dict(keypoints=pr_kpts, keypoints_visible=pr_vis), dist_thr)
        num_gt += gt_vis.sum(axis=0)
        for j in range(NUM_POSETRACK_JOINTS):
            scores[j].append(pr_scores[pr_vis[:, j], j])
            labels[j].append(frame_labels[pr_vis[:, j], j])

    return np.array([
        voc_ap(
            np.concatenate(scores[j]) if scores[j] else [],
            np.concatenate(labels[j]) if labels[j] else [], int(num_gt[j])) for j in range(NUM_POSETRACK_JOINTS)
    ])


def summarize_posetrack_ap(joint_ap: np.ndarray) -> 'OrderedDict[str, float]':
    """Group per-joint APs into the published table.

    Args:
        joint_ap (np.ndarray): (15,) AP per joint in :data:`POSETRACK_JOINTS` order.

    Returns:
        OrderedDict: ``Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle`` (means of their joints) and
        ``Total`` (mean of the 15 joints, NaN joints left out, as poseval's ``apAll[15]``).
    """
    joint_ap = np.asarray(joint_ap, dtype=np.float64).reshape(-1)
    if len(joint_ap) != NUM_POSETRACK_JOINTS:
        raise ValueError(f'expected {NUM_POSETRACK_JOINTS} joint APs, got {len(joint_ap)}')
    ap = dict(zip(POSETRACK_JOINTS, joint_ap))
    summary = OrderedDict(
        (group, float(np.mean([ap[name] for name in joints]))) for group, joints in POSETRACK_GROUPS.items())
    with warnings.catch_warnings():  # all-NaN gives NaN, without a RuntimeWarning
        warnings.simplefilter('ignore', RuntimeWarning)
        summary['Total'] = float(np.nanmean(joint_ap))
    return summary


def format_posetrack_table(summary: Dict[str, float]) -> str:
    """Format :func:`summarize_posetrack_ap` output as a two-line table."""
    width = max(len(k) for k in POSETRACK_SUMMARY_KEYS) + 1
    header = '|'.join(f'{k:>{width}}' for k in POSETRACK_SUMMARY_KEYS)
    row = '|'.join(f'{summary[k]:>{width}.1f}' for k in POSETRACK_SUMMARY_KEYS)
    return f'{header}\n{row}'
