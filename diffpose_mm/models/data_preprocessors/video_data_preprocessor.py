"""Data preprocessor for multi-frame (video) pose samples."""
from typing import Sequence

import numpy as np
import torch
from mmengine.model.utils import stack_batch
from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.registry import MODELS


@MODELS.register_module()
class VideoPoseDataPreprocessor(PoseDataPreprocessor):
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

    Args: as :class:`mmpose.models.PoseDataPreprocessor` (``mean``, ``std``, ``bgr_to_rgb``,
        ``pad_size_divisor``, ...). ``batch_augments`` receive the 5-D batch for video inputs.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor):  # default_collate stacks the batch already
            inputs = list(inputs)
        if not inputs or not all(isinstance(x, torch.Tensor) for x in inputs):
            raise TypeError(f'{self.__class__.__name__} expects a list of tensors as inputs, got '
                            f'{type(data["inputs"]).__name__}')
        ndims = {x.dim() for x in inputs}
        shapes = [tuple(x.shape) for x in inputs]
        if ndims == {3}:
            frames = inputs
        elif ndims == {4}:
            if len({s[0] for s in shapes}) != 1:
                raise ValueError(f'All samples of a batch need the same number of frames, got '
                                 f'input shapes {shapes}')
            frames = [f for x in inputs for f in x]
        else:
            raise ValueError(f'{self.__class__.__name__} expects inputs of shape (3, H, W) or '
                             f'(T, 3, H, W) (not mixed), got {shapes}')

        pad_shapes = [self._padded_hw(f.shape[-2:]) for f in inputs]
        processed = []
        for frame in frames:
            if frame.shape[0] != 3 and (self._channel_conversion or self._enable_normalize):
                raise ValueError(f'Expected 3-channel frames, got a frame of shape '
                                 f'{tuple(frame.shape)}')
            if self._channel_conversion:
                frame = frame[[2, 1, 0], ...]
            frame = frame.float()
            if self._enable_normalize:
                frame = (frame - self.mean) / self.std
            processed.append(frame)
        batch = stack_batch(processed, self.pad_size_divisor, self.pad_value)
        if ndims == {4}:
            batch = batch.view(len(inputs), shapes[0][0], *batch.shape[1:])

        data_samples = data.get('data_samples', None)
        if data_samples is not None:
            batch_input_shape = tuple(batch.shape[-2:])
            for data_sample, pad_shape in zip(data_samples, pad_shapes):
                data_sample.set_metainfo(
                    dict(batch_input_shape=batch_input_shape, pad_shape=pad_shape))
        if training and self.batch_augments is not None:
            for batch_aug in self.batch_augments:
                batch, data_samples = batch_aug(batch, data_samples)
        return dict(inputs=batch, data_samples=data_samples)

    def _padded_hw(self, hw: Sequence[int]) -> tuple:
        div = self.pad_size_divisor
        return tuple(int(np.ceil(s / div)) * div for s in hw)
