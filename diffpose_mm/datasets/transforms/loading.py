"""Loading of the frames of a video sample."""
from typing import List, Optional

import numpy as np
from mmcv.transforms import BaseTransform, LoadImageFromFile
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadVideoFrames(BaseTransform):
    """Load every frame of ``results['frame_paths']`` into ``results['img']``.

    The frames are loaded in the given (temporal) order into a list of ``(H, W, 3)`` arrays.
    MMPose's ``RandomFlip``, ``TopdownAffine`` and ``PackPoseInputs`` accept such lists and apply
    the same flip / warp to every frame, then stack them into a ``(T, 3, h, w)`` tensor; box and
    keypoint transforms and ``GenerateTarget`` only use the key frame's annotations.

    Required Keys:

        - frame_paths (list[str]) or img (list[np.ndarray], already loaded)

    Modified Keys:

        - img (list[np.ndarray]): ``T`` images of shape ``(H, W, 3)``
        - img_shape, ori_shape: ``(H, W)`` of the frames

    Args:
        to_float32 (bool): Convert the frames to float32. Default: ``False``.
        color_type (str): ``flag`` of :func:`mmcv.imfrombytes`. Default: ``'color'``.
        imdecode_backend (str): ``backend`` of :func:`mmcv.imfrombytes`. Default: ``'cv2'``.
        backend_args (dict, optional): File backend arguments of :func:`mmengine.fileio.get`.
            Default: ``None``.

    Each frame is loaded by mmcv's :class:`~mmcv.transforms.LoadImageFromFile` with these settings; a missing
    frame raises ``FileNotFoundError`` and an undecodable one ``ValueError``, both naming the file.
    """

    def __init__(self, to_float32: bool = False, color_type: str = 'color', imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None):
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args
        # every frame is read and decoded by mmcv's single-image loader
        self._load_frame = LoadImageFromFile(to_float32=to_float32, color_type=color_type,
                                             imdecode_backend=imdecode_backend, backend_args=backend_args)

    def _load(self, path: str) -> np.ndarray:
        try:
            return self._load_frame.transform(dict(img_path=path))['img']
        except FileNotFoundError as e:
            raise FileNotFoundError(f'Video frame {path} does not exist') from e
        except AssertionError as e:  # LoadImageFromFile asserts that the decoder returned an image
            raise ValueError(f'Video frame {path} could not be decoded (corrupt or not an image)') from e
        except Exception as e:
            if isinstance(e, OSError) and e.filename is not None:
                raise  # a read error of the file backend (permissions, a directory, ...): it names the file
            raise ValueError(f'Video frame {path} could not be decoded ({e})') from e  # decoders raise various types

    def transform(self, results: dict) -> dict:
        if 'img' in results:
            frames = results['img']
            if not isinstance(frames, list):
                raise TypeError('LoadVideoFrames expects results["img"] to be a list of frames, '
                                f'got {type(frames).__name__}')
            paths: List[str] = results.get('frame_paths', [None] * len(frames))
        else:
            if 'frame_paths' not in results:
                raise KeyError('LoadVideoFrames needs results["frame_paths"] (the ordered frame '
                               'paths set by PoseTrackVideoDataset)')
            paths = results['frame_paths']
            frames = [self._load(p) for p in paths]
        if not frames:
            raise ValueError('LoadVideoFrames got an empty frame list')
        # one affine warp is shared by all frames, so they must share the key frame's geometry
        shape = frames[0].shape[:2]
        for path, frame in zip(paths, frames):
            if frame.shape[:2] != shape:
                raise ValueError(f'Video frame {path} has size {frame.shape[:2]}, but the first '
                                 f'frame {paths[0]} has size {shape}')
        results['img'] = frames
        results['img_shape'] = shape
        results['ori_shape'] = shape
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')
