"""Small videos for the inferencer tests: frames whose pixel value encodes the frame index, written as a
PoseTrack-style frame folder or as an mp4; and the repository's real clip."""
from pathlib import Path
from types import SimpleNamespace
from typing import List

import cv2
import numpy as np
import pytest

REAL_CLIP = Path(__file__).resolve().parents[1] / 'data' / 'videos' / 'demo.mp4'


def index_frames(num_frames: int, size=(48, 64)) -> List[np.ndarray]:
    """BGR frames ``(H, W, 3)`` filled with ``20 * i + 10``: the mean of any crop of frame ``i`` tells ``i``."""
    return [np.full((*size, 3), 20 * i + 10, dtype=np.uint8) for i in range(num_frames)]


def frame_index(frame: np.ndarray) -> int:
    """The ``i`` of an :func:`index_frames` frame (or of a crop of it: its maximum, as a crop reaching over the
    border is padded with zeros)."""
    return int(round((float(np.asarray(frame, dtype=np.float64).max()) - 10) / 20))


def write_frame_folder(folder: Path, frames: List[np.ndarray], start: int = 0, digits: int = 6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f'{start + i:0{digits}d}.png'), frame)  # lossless: values stay exact
    return folder


def write_video(path: Path, frames: List[np.ndarray], fps: float = 5.) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def random_rtmdet_tiny_config():
    """mmdet's RTMDet-tiny at 160x160 input with 2 boxes per image (fast on CPU; used with random weights)."""
    from mmengine.hub import get_config
    cfg = get_config('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py')
    cfg.model.test_cfg.max_per_img = 2
    cfg.test_dataloader.dataset.pipeline[1].scale = (160, 160)
    cfg.test_dataloader.dataset.pipeline[2].size = (160, 160)
    return cfg


def confident(detector) -> None:
    """Random RTMDet weights whatever the RNG state, but with positive class and distance biases, so that it
    returns boxes of a few strides on every image (with PyTorch's init alone it may return none)."""
    head = detector.inferencer.model.bbox_head
    for cls_conv, reg_conv in zip(head.rtm_cls, head.rtm_reg):
        cls_conv.bias.data.fill_(3.)
        reg_conv.bias.data.fill_(2.)


@pytest.fixture(scope='session')
def videos() -> SimpleNamespace:
    """``videos.index_frames(n)``, ``videos.frame_index(frame)``, ``videos.write_frame_folder(folder, frames)``,
    ``videos.write_video(path, frames)``, ``videos.real_clip`` (tests/data/videos/demo.mp4), and a random detector:
    ``videos.rtmdet_config()``, ``videos.confident(detector)``."""
    return SimpleNamespace(index_frames=index_frames, frame_index=frame_index, write_frame_folder=write_frame_folder,
                           write_video=write_video, real_clip=REAL_CLIP, rtmdet_config=random_rtmdet_tiny_config,
                           confident=confident)


@pytest.fixture
def frame_folder(tmp_path) -> Path:
    """``<tmp>/images/val/000007_demo/000000.png .. 000006.png``: 7 index frames of PoseTrack video 7."""
    return write_frame_folder(tmp_path / 'images' / 'val' / '000007_demo', index_frames(7))
