"""Person boxes per video frame: from an mmdet detector, or from a PoseTrack detection file.

Boxes are ``(n, 5)`` float32 arrays ``[x1, y1, x2, y2, score]`` per frame.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmpose.evaluation.functional import nms

from ..datasets.posetrack_format import frame_key, load_person_detections
from ..engine.checkpoint import mmengine_checkpoint_globals
from .video_frames import VideoFrames


def _video_frame_key(path: str) -> str:
    """``<video>/<frame file>``: how a detection entry's ``image_name`` is matched to a frame (the split and
    the data root may differ between the detection file and the input)."""
    return '/'.join(frame_key(path).split('/')[-2:])


class DetectionFileBoxes:
    """The boxes of a PoseTrack detection file, looked up per frame of a video.

    The file is what ``tools/misc/generate_person_boxes.py`` writes and ``PoseTrackVideoDataset(bbox_file=...)``
    reads: a json list of ``{image_id | image_name, bbox: [x, y, w, h], score, category_id}``. ``image_id``
    entries match the frame whose PoseTrack image id (``1`` + 6-digit video id + 4-digit frame number, from the
    video and frame names) it is; ``image_name`` entries match by ``<video>/<frame file>``. Entries of other
    videos are ignored; boxes with ``category_id`` other than 1 are skipped, as in the dataset.

    Args:
        path (str): The detection file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file (and the entry and field) when it is not a list of detections, holds no
            person detections, or an entry lacks ``bbox``/``score``/``image_id``/``image_name`` or has a
            malformed ``bbox``.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.by_id: Dict[int, List[np.ndarray]] = {}
        self.by_name: Dict[str, List[np.ndarray]] = {}
        for det in load_person_detections(path):
            x, y, w, h = (float(v) for v in det['bbox'][:4])
            box = np.array([x, y, x + w, y + h, float(det['score'])], dtype=np.float32)
            if 'image_id' in det:
                self.by_id.setdefault(det['image_id'], []).append(box)
            else:
                self.by_name.setdefault(_video_frame_key(det['image_name']), []).append(box)
        if not (self.by_id or self.by_name):  # as the dataset: no boxes would draw and write nothing, silently
            raise ValueError(f'{path}: holds no person detections (no entry with category_id 1); run a person '
                             'detector (tools/misc/generate_person_boxes.py) or pass --det-config/--det-checkpoint')

    def boxes_for(self, frames: VideoFrames) -> List[np.ndarray]:
        """The ``(n, 5)`` boxes of every frame of ``frames`` (``(0, 5)`` where the file has none).

        Raises:
            ValueError: none of the file's detections is on a frame of this video (a detection file for other
                videos or other frames), naming the file, the video and the ids / names expected.
        """
        per_frame, matched = [], 0
        for index in range(len(frames)):
            boxes = self.by_id.get(frames.image_id(index), []) if self.by_id else []
            boxes = boxes + self.by_name.get(_video_frame_key(frames.frame_path(index)), [])
            matched += len(boxes)
            per_frame.append(np.stack(boxes) if boxes else np.zeros((0, 5), dtype=np.float32))
        if not matched and (self.by_id or self.by_name):
            ids = sorted(self.by_id)[:3]
            names = sorted(self.by_name)[:3]
            raise ValueError(
                f'{self.path}: none of its detections is on a frame of video {frames.name} ({len(frames)} frames '
                f'from {frames.source}). This video\'s frames have "image_id" {frames.image_id(0)} .. '
                f'{frames.image_id(len(frames) - 1)} (1 + 6-digit video id + 4-digit frame number) and '
                f'"image_name" ending in {_video_frame_key(frames.frame_path(0))}; the file has "image_id" '
                f'{ids or "-"} ... and "image_name" {names or "-"} ...: a detection file of other videos?')
        return per_frame


class MMDetPersonDetector:
    """Person boxes of single frames from an mmdet detector, through mmdet's own ``DetInferencer`` (as MMPose's
    ``Pose2DInferencer`` does).

    Args:
        config (str | Config): mmdet config file, ``mmdet::<path inside mmdet's configs>`` (e.g.
            ``mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py``) or a loaded config.
        checkpoint (str, optional): Detector weights (loaded with ``weights_only=True`` and MMEngine's
            allowlist); random weights without it.
        device (str, optional): Device. Defaults to mmengine's choice.
        cat_ids (int | Sequence[int]): Labels that are "person" (0 for COCO detectors). Defaults to 0.
    """

    def __init__(self, config: Union[str, Config], checkpoint: Optional[str] = None, device: Optional[str] = None,
                 cat_ids: Union[int, Sequence[int]] = 0) -> None:
        from mmdet.apis import DetInferencer
        if isinstance(config, str):
            if '::' in config:  # a config inside the installed mmdet; Config.fromfile only takes plain paths
                config = get_config(config)
            elif not osp.isfile(config):
                raise FileNotFoundError(f'detector config {config} does not exist (give a file or '
                                        'mmdet::<path inside mmdet/configs>)')
            else:
                config = Config.fromfile(config)
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'detector checkpoint {checkpoint} does not exist')
        self.cat_ids = tuple(cat_ids) if isinstance(cat_ids, (list, tuple)) else (cat_ids, )
        # mmdet builds in its own scope; the caller's (mmpose) stays the default afterwards
        with DefaultScope.overwrite_default_scope('mmdet'), mmengine_checkpoint_globals(checkpoint or ''):
            self.inferencer = DetInferencer(model=config, weights=checkpoint, device=device, scope='mmdet',
                                            show_progress=False)

    def __call__(self, frame: np.ndarray, score_thr: float = 0.3, nms_thr: float = 0.3) -> np.ndarray:
        """``(n, 5)`` person boxes of the BGR ``frame (H, W, 3)`` with score ``>= score_thr``, after box NMS at
        ``nms_thr``, by descending score."""
        with DefaultScope.overwrite_default_scope('mmdet'):
            pred = self.inferencer(frame, return_datasamples=True)['predictions'][0].pred_instances.cpu().numpy()
        keep = np.isin(pred.labels, self.cat_ids) & (pred.scores >= score_thr)
        boxes = np.concatenate([pred.bboxes[keep], pred.scores[keep, None]], axis=1).astype(np.float32)
        return boxes[nms(boxes, nms_thr)] if len(boxes) else boxes.reshape(0, 5)
