"""The frames of one video, read on demand, whatever the input: a video file, a folder of frames or a list."""
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import List, Optional, Sequence, Union

import mmcv
import numpy as np

from ..datasets.posetrack_format import posetrack_image_id

FRAME_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
DEFAULT_FPS = 25.  # frame folders and lists carry no frame rate

VideoSource = Union[str, Sequence[Union[str, np.ndarray]], np.ndarray]


class VideoFrames(Sequence[np.ndarray]):
    """Random access to the BGR frames ``(H, W, 3)`` of one video, decoded on demand with a small cache.

    A window of ``2δ+1`` frames slides over the video, so only the last ``cache_size`` decoded frames are kept.

    Args:
        source: a video file (read by :class:`mmcv.VideoReader`), a folder of frame images (``.jpg``, ``.jpeg``,
            ``.png``, ``.bmp``, sorted by name, as PoseTrack stores videos), or a list of frame paths or BGR arrays.
        fps (float, optional): Frame rate of the annotated video. Defaults to the video file's, else 25.
        name (str, optional): Name of the video (prediction file ``<name>.json``, annotated ``<name>.mp4``).
            Defaults to the file stem, the folder name, the folder of the first listed path, or ``'video'``.
        cache_size (int): Decoded frames kept. Defaults to 16.

    Raises:
        FileNotFoundError: ``source`` does not exist, or a folder holds no frame image.
        ValueError: a video file that cannot be opened or has no frames, or an empty list; each names the file.
    """

    def __init__(self, source: VideoSource, fps: Optional[float] = None, name: Optional[str] = None,
                 cache_size: int = 16) -> None:
        self._reader: Optional[mmcv.VideoReader] = None
        self._frames: List[Union[str, np.ndarray]] = []
        self.source = source if isinstance(source, str) else '<list of frames>'
        if isinstance(source, np.ndarray):
            source = [source]
        if isinstance(source, str):
            if osp.isdir(source):
                self._frames = sorted(
                    osp.join(source, n) for n in os.listdir(source) if n.lower().endswith(FRAME_EXTENSIONS))
                if not self._frames:
                    raise FileNotFoundError(f'frame folder {source} holds no frame image '
                                            f'({"/".join(FRAME_EXTENSIONS)})')
                default_name = osp.basename(osp.normpath(source))
            elif osp.isfile(source):
                if source.lower().endswith(FRAME_EXTENSIONS):
                    self._frames = [source]
                    default_name = osp.basename(osp.dirname(osp.abspath(source)))
                else:
                    self._reader = self._open_video(source, cache_size)
                    default_name = osp.splitext(osp.basename(source))[0]
            else:
                raise FileNotFoundError(f'video input {source} does not exist (expected a video file, a folder of '
                                        'frames or a list of frames)')
        else:
            self._frames = list(source)
            if not self._frames:
                raise ValueError('the list of frames is empty')
            first = self._frames[0]
            default_name = osp.basename(osp.dirname(osp.abspath(first))) if isinstance(first, str) else 'video'
        self.name = name or default_name
        self.fps = float(
            fps or (self._reader.fps if self._reader is not None and self._reader.fps > 0 else DEFAULT_FPS))
        self._cache: 'OrderedDict[int, np.ndarray]' = OrderedDict()
        self._cache_size = cache_size

    @staticmethod
    def _open_video(path: str, cache_size: int) -> mmcv.VideoReader:
        if osp.getsize(path) == 0:
            raise ValueError(f'video file {path} is empty (0 bytes)')
        reader = mmcv.VideoReader(path, cache_capacity=cache_size)
        if not reader.opened:
            raise ValueError(f'cannot read video file {path}: OpenCV cannot open it (not a video, a video without '
                             'frames, a truncated file, or a codec OpenCV was built without)')
        if reader.frame_cnt <= 0:
            raise ValueError(f'video file {path} has no frames')
        return reader

    def __len__(self) -> int:
        return self._reader.frame_cnt if self._reader is not None else len(self._frames)

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(f'frame {index} of video {self.name} ({len(self)} frames)')
        index = index % len(self)
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        frame = self._read(index)
        self._cache[index] = frame
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return frame

    def _read(self, index: int) -> np.ndarray:
        if self._reader is not None:
            frame = self._reader.get_frame(index)
            if frame is None:
                raise ValueError(f'frame {index} of video file {self.source} could not be decoded (the file is '
                                 f'truncated or corrupt; it reports {len(self)} frames)')
            return frame
        item = self._frames[index]
        if isinstance(item, np.ndarray):
            if item.ndim != 3 or item.shape[2] != 3:
                raise ValueError(f'frame {index} of the list must be a BGR image (H, W, 3), got shape {item.shape}')
            return item
        if not osp.isfile(item):
            raise FileNotFoundError(f'video frame {item} does not exist')
        frame = mmcv.imread(item)
        if frame is None:
            raise ValueError(f'video frame {item} could not be decoded (corrupt or not an image)')
        return frame

    # ------------------------------------------------------------------ names and PoseTrack ids
    def frame_path(self, index: int) -> str:
        """The frame's file, or ``<name>/<index:06d>.jpg`` for frames of a video file or of arrays."""
        item = self._frames[index] if self._reader is None else None
        return item if isinstance(item, str) else f'{self.name}/{index:06d}.jpg'

    def frame_number(self, index: int) -> int:
        """The frame's number in its video: the digits of a PoseTrack frame name (``000012.jpg`` -> 12), else
        ``index``."""
        stem = osp.splitext(osp.basename(self.frame_path(index)))[0]
        return int(stem) if stem.isdigit() else index

    @property
    def video_id(self) -> int:
        """The leading digits of the video name (PoseTrack: ``000342_mpii_test`` -> 342), else 0."""
        match = re.match(r'\d+', self.name)
        return int(match.group()) if match else 0

    def image_id(self, index: int) -> int:
        """PoseTrack image id of a frame (:func:`posetrack_image_id` of :attr:`video_id` and its number)."""
        try:
            return posetrack_image_id(self.video_id, self.frame_number(index))
        except ValueError as e:
            raise ValueError(f'video {self.name}: {e}') from e
