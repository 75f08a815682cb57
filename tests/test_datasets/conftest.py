"""Shared fixtures of the data tests: the MMPose scope and a builder of tiny hand-made PoseTrack videos (the
synthetic data, ``synthetic_root``, and MMPose's PoseTrack18 fixture, ``posetrack18_fixture``, come from
``tests/conftest.py``)."""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import pytest

from diffpose_mm.datasets.posetrack_format import NUM_KEYPOINTS, POSETRACK18_KEYPOINTS, posetrack_image_id

EARS = [POSETRACK18_KEYPOINTS.index('left_ear'), POSETRACK18_KEYPOINTS.index('right_ear')]


@pytest.fixture(autouse=True)
def _mmpose_scope(mmpose_scope):
    """Every data test builds from MMPose's registries."""


def keypoints_51(seed: int = 0, center=(30.0, 20.0)) -> List[float]:
    """17x3 PoseTrack keypoints near ``center`` with the ears unlabelled."""
    rng = np.random.default_rng(seed)
    kpts = np.zeros((NUM_KEYPOINTS, 3))
    kpts[:, :2] = np.asarray(center) + rng.uniform(-8, 8, size=(NUM_KEYPOINTS, 2))
    kpts[:, 2] = 1
    kpts[EARS] = 0
    return [round(float(v), 2) for v in kpts.reshape(-1)]


class VideoBuilder:
    """Writes tiny PoseTrack-style videos (frame files + a COCO-style json) under a root."""

    def __init__(self, root: Path):
        self.root = root

    def frame_name(self, index: int, digits: int) -> str:
        return f'{index:0{digits}d}.jpg'

    def video(self, name: str, nframes: int, labelled: Sequence[int], digits: int = 6, first: int = 0,
              existing: Optional[Sequence[int]] = None, anns_per_frame: int = 1, size=(64, 48),
              vid: int = 1) -> Dict[str, list]:
        """Frames ``first .. first+nframes-1`` (only ``existing`` ones written) and one entry per
        labelled frame; returns ``{'images': [...], 'annotations': [...]}``."""
        w, h = size
        frame_dir = self.root / 'images' / 'val' / name
        frame_dir.mkdir(parents=True, exist_ok=True)
        existing = range(first, first + nframes) if existing is None else existing
        for i in existing:
            img = np.full((h, w, 3), (i * 20) % 256, np.uint8)
            cv2.imwrite(str(frame_dir / self.frame_name(i, digits)), img)
        images, anns = [], []
        for i in labelled:
            image_id = posetrack_image_id(vid, i)
            images.append(
                dict(id=image_id, file_name=f'images/val/{name}/{self.frame_name(i, digits)}', nframes=nframes,
                     frame_id=image_id, vid_id=f'{vid:06d}', is_labeled=True, width=w, height=h))
            for k in range(anns_per_frame):
                anns.append(
                    dict(id=image_id * 100 + k, image_id=image_id, category_id=1, track_id=k,
                         bbox=[10.0, 5.0, 40.0, 30.0], bbox_head=[25.0, 5.0, 8.0, 8.0],
                         keypoints=keypoints_51(i * 10 + k), num_keypoints=15))
        return dict(images=images, annotations=anns)

    def write_json(self, data: dict, name: str = 'ann.json') -> Path:
        path = self.root / 'annotations' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        return path


@pytest.fixture
def video_builder(tmp_path) -> VideoBuilder:
    return VideoBuilder(tmp_path)
