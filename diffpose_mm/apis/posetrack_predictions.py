"""PoseTrack18 prediction files of video inference, scored and suppressed as the test-time metric does."""
import os.path as osp
import tempfile
from typing import List, Sequence

import numpy as np
from mmpose.evaluation.functional import oks_nms

from ..datasets.posetrack_format import POSETRACK18_KEYPOINTS, frame_key, write_json
from ..evaluation.functional import write_posetrack_predictions
from .video_frames import VideoFrames


def instance_scores(keypoint_scores: np.ndarray, bbox_scores: np.ndarray,
                    keypoint_score_thr: float = 0.2) -> np.ndarray:
    """Person scores ``(n,)`` as :class:`PoseTrackMetric` (MMPose's ``CocoMetric``, ``score_mode='bbox_keypoint'``)
    computes them: box score x the mean of the keypoint scores above ``keypoint_score_thr`` (x 0 if none is).

    Args:
        keypoint_scores (np.ndarray): ``(n, K)``.
        bbox_scores (np.ndarray): ``(n,)``.
    """
    keypoint_scores = np.asarray(keypoint_scores, dtype=np.float64).reshape(len(bbox_scores), -1)
    valid = keypoint_scores > keypoint_score_thr
    mean = np.where(valid, keypoint_scores, 0.).sum(1) / np.maximum(valid.sum(1), 1)
    return np.asarray(bbox_scores, dtype=np.float64) * mean


def oks_suppress(keypoints: np.ndarray, keypoint_scores: np.ndarray, scores: np.ndarray, areas: np.ndarray,
                 sigmas: np.ndarray, thr: float = 0.9) -> np.ndarray:
    """Indices of the people kept by MMPose's OKS-NMS at ``thr`` (what ``PoseTrackMetric`` applies per image),
    by descending score.

    Args:
        keypoints (np.ndarray): ``(n, K, 2)``; keypoint_scores ``(n, K)``; scores ``(n,)``; areas ``(n,)`` (box
            scale ``w * h``, as the metric takes it from ``bbox_scales``); sigmas ``(K,)``.
    """
    people = [
        dict(keypoints=np.concatenate([k, s[:, None]], axis=1), score=score, area=area)
        for k, s, score, area in zip(keypoints, keypoint_scores, scores, areas)
    ]
    return np.asarray(oks_nms(people, thr, sigmas=sigmas), dtype=np.int64)


def write_video_predictions(out_dir: str, frames: VideoFrames, people: Sequence[List[dict]],
                            keypoint_names: Sequence[str] = POSETRACK18_KEYPOINTS) -> str:
    """Write ``<out_dir>/<video name>.json`` in the PoseTrack18 layout, one image per frame of ``frames``.

    The file is written by :func:`diffpose_mm.evaluation.functional.write_posetrack_predictions`, the writer of
    ``PoseTrackMetric``, so ``tools/analysis/eval_posetrack.py GT_DIR OUT_DIR`` reads it as it reads the metric's
    files: image ids by :func:`~diffpose_mm.datasets.posetrack_format.posetrack_image_id`, file names by
    :func:`~diffpose_mm.datasets.posetrack_format.frame_key`, every frame listed (empty where nobody was found).

    Args:
        frames (VideoFrames): The video.
        people (Sequence[list[dict]]): per frame, the people with ``keypoints (K, 2)``, ``keypoint_scores (K,)``
            (the joint scores), ``score`` (instance score) and ``track_id``.
        keypoint_names (Sequence[str]): Names of the K keypoints.

    Returns:
        str: The written file.
    """
    if len(people) != len(frames):
        raise ValueError(f'video {frames.name}: {len(people)} frames of predictions for {len(frames)} frames')
    images = [dict(id=frames.image_id(i), file_name=frame_key(frames.frame_path(i))) for i in range(len(frames))]
    preds = {
        image['id']: [dict(p, scores=p['keypoint_scores']) for p in frame_people]
        for image, frame_people in zip(images, people)
    }
    name = f'{frames.name}.json'
    with tempfile.TemporaryDirectory() as frame_list:
        # the writer lists the images of a "GT" file: give it this video's frames
        write_json(dict(images=images), osp.join(frame_list, name))
        [path] = write_posetrack_predictions(frame_list, out_dir, preds, keypoint_names)
    return path
