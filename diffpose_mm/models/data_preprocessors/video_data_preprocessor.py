"""Data preprocessor for multi-frame (video) pose samples."""
from typing import List

import torch
from mmengine.model import ImgDataPreprocessor
from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.registry import MODELS


class _FramewiseImgDataPreprocessor(ImgDataPreprocessor):
    """MMEngine's :class:`ImgDataPreprocessor` applied to every frame of ``(T, 3, H, W)`` clips.

    The frames of all clips are handed to ``ImgDataPreprocessor.forward`` as one list of ``(3, H, W)`` images
    (BGR->RGB, float, mean/std, padding to the largest ``(H, W)`` rounded up to ``pad_size_divisor``), and the
    ``(B*T, 3, H', W')`` result is folded back to ``(B, T, 3, H', W')``. ``(3, H, W)`` inputs pass unchanged.
    Data samples are only moved to the device here, never per frame.

    :class:`VideoPoseDataPreprocessor` lists this class after :class:`PoseDataPreprocessor`, so the ``super()``
    call in ``PoseDataPreprocessor.forward`` lands here and that method then sets the metainfo and runs the
    batch augmentations once per clip.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        if data['inputs'][0].dim() != 4:
            return super().forward(data, training)
        clips = self.cast_data(data['inputs'])  # one host-to-device copy per clip, not per frame
        num_frames = clips[0].shape[0]
        data = super().forward(dict(data, inputs=[frame for clip in clips for frame in clip]), training)
        data['inputs'] = data['inputs'].view(len(clips), num_frames, *data['inputs'].shape[1:])
        return data


@MODELS.register_module()
class VideoPoseDataPreprocessor(PoseDataPreprocessor, _FramewiseImgDataPreprocessor):
    """:class:`PoseDataPreprocessor` for samples of ``T`` frames.

    mmengine's ``ImgDataPreprocessor`` assumes ``(3, H, W)`` inputs. This one accepts per-sample
    inputs of shape ``(T, 3, H, W)`` (from ``LoadVideoFrames`` + ``PackPoseInputs``) and returns a
    float batch ``(B, T, 3, H, W)``; BGR->RGB conversion and mean/std normalisation are applied to
    every frame, and all frames are padded to the batch's largest ``(H, W)`` (rounded up to
    ``pad_size_divisor``). Plain ``(3, H, W)`` samples give ``(B, 3, H, W)`` as in
    ``PoseDataPreprocessor``, so it is a drop-in replacement. All samples of a batch must have
    the same number of frames.

    Each data sample gets ``batch_input_shape`` (the padded ``(H, W)``) and ``pad_shape`` (its own
    padded ``(H, W)``) in its metainfo.

    Implementation: this class checks the inputs; ``PoseDataPreprocessor.forward`` sets the metainfo and runs
    the batch augmentations per sample, around ``ImgDataPreprocessor.forward`` on the flattened frames (see
    :class:`_FramewiseImgDataPreprocessor`).

    Args: as :class:`mmpose.models.PoseDataPreprocessor` (``mean``, ``std``, ``bgr_to_rgb``,
        ``pad_size_divisor``, ...). ``batch_augments`` receive the 5-D batch for video inputs.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor):  # default_collate stacks the batch already
            inputs = list(inputs)
        if not inputs or not all(isinstance(x, torch.Tensor) for x in inputs):
            raise TypeError(f'{self.__class__.__name__} expects a list of tensors as inputs, got '
                            f'{type(data["inputs"]).__name__}')
        ndims = {x.dim() for x in inputs}
        shapes = [tuple(x.shape) for x in inputs]
        if ndims == {4}:
            if len({s[0] for s in shapes}) != 1:
                raise ValueError(f'All samples of a batch need the same number of frames, got '
                                 f'input shapes {shapes}')
        elif ndims != {3}:
            raise ValueError(f'{self.__class__.__name__} expects inputs of shape (3, H, W) or '
                             f'(T, 3, H, W) (not mixed), got {shapes}')
        if self._channel_conversion or self._enable_normalize:
            for shape in shapes:
                if shape[-3] != 3:
                    raise ValueError(f'Expected 3-channel frames, got a frame of shape {shape[-3:]}')

        # PoseDataPreprocessor iterates over the data samples to set their metainfo: without samples it gets an
        # empty list (batch_augments, if any, then see [] instead of None) and the result None again
        no_samples = data.get('data_samples', None) is None
        data = super().forward(
            dict(data, inputs=inputs, data_samples=[] if no_samples else data['data_samples']), training)
        if no_samples:
            data['data_samples'] = None
        return data

    def _get_pad_shape(self, data: dict) -> List[tuple]:
        """Padded ``(H, W)`` of each sample: that of its frames for ``(T, 3, H, W)`` clips."""
        return super()._get_pad_shape(dict(inputs=[x[0] if x.dim() == 4 else x for x in data['inputs']]))
