"""Track ids for the person boxes of consecutive frames, with MMPose's greedy IoU matching."""
from typing import List

import numpy as np
from mmengine.structures import InstanceData
from mmpose.apis import _track_by_iou
from mmpose.structures import PoseDataSample


class IoUPersonTracker:
    """Assigns track ids frame by frame with :func:`mmpose.apis._track_by_iou` (the tracker of MMPose's pose
    demos): each box, by descending score, takes the id of the unmatched box of the previous frame it overlaps
    most if their IoU is above ``iou_thr``, else a new id (0, 1, 2, ... in order of appearance).

    The "previous frame" is the last one that had boxes, so a person keeps the id across frames without boxes
    (e.g. a detection file that only covers PoseTrack's labelled frames, every 4th).

    Args:
        iou_thr (float): Minimum IoU to continue a track. Defaults to 0.3.
    """

    def __init__(self, iou_thr: float = 0.3) -> None:
        self.iou_thr = iou_thr
        self.next_id = 0
        self._last: List[PoseDataSample] = []

    def update(self, boxes: np.ndarray) -> np.ndarray:
        """Track ids ``(n,)`` (int64) of the boxes ``(n, 4+)`` ``[x1, y1, x2, y2, (score)]`` of the next frame."""
        ids = np.full(len(boxes), -1, dtype=np.int64)
        order = np.argsort(-boxes[:, 4], kind='stable') if boxes.shape[1] > 4 else np.arange(len(boxes))
        candidates, current = list(self._last), []
        for i in order:
            person = PoseDataSample()
            person.pred_instances = InstanceData(bboxes=np.asarray(boxes[i:i + 1, :4], dtype=np.float32))
            track_id, candidates, _ = _track_by_iou(person, candidates, self.iou_thr)
            if track_id == -1:
                track_id, self.next_id = self.next_id, self.next_id + 1
            person.track_id = ids[i] = track_id
            current.append(person)
        if current:
            self._last = current
        return ids
