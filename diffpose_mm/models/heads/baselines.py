"""The plain heatmap baseline of a DiffPose model: the one definition the analysis tools compare against.

``tools/analysis/run_ablations.py`` trains it (the ``HeatmapHead, δ=2`` row of the README) and
``tools/analysis/benchmark_inference.py`` times it; both take its settings from here.
"""
import copy
import inspect
from typing import Mapping, Optional

from diffpose_mm.models.diffusion.sampling_cfg import SAMPLING_KEYS
from .diffpose_head import DiffPoseHead

_DIFFPOSE_DEFAULTS = {name: p.default for name, p in inspect.signature(DiffPoseHead.__init__).parameters.items()}


def heatmap_head_like(head_cfg: Mapping, in_channels: Optional[int] = None) -> dict:
    """MMPose ``HeatmapHead`` settings matching a ``DiffPoseHead`` config, without the diffusion.

    Same ``in_channels``, ``out_channels``, loss and codec (``decoder``); DiffPoseHead's heatmaps are 4x its
    feature map, so the baseline has two stride-2 deconvolutions (kernel 4) whose widths are those of
    DiffPoseHead's 2x and 4x feature maps (``feat_channels[1:3]``). Unset DiffPoseHead options take its
    defaults.

    Args:
        head_cfg (Mapping): The ``model.head`` config of a DiffPose model (``type='DiffPoseHead'``).
        in_channels (int, optional): Input channels, when the baseline sees another feature map than the
            DiffPose head (e.g. the backbone's, without the neck). Defaults to ``head_cfg['in_channels']``.

    Returns:
        dict: A ``model.head`` config of type ``HeatmapHead`` (a new dict; ``head_cfg`` is not changed).

    Example:
        >>> codec = dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2)
        >>> head = heatmap_head_like(dict(type='DiffPoseHead', in_channels=64, out_channels=17,
        ...                               feat_channels=(64, 32, 16), decoder=codec))
        >>> head['deconv_out_channels'], head['loss']['type']
        ((32, 16), 'KeypointMSELoss')
    """
    if head_cfg.get('type', 'DiffPoseHead') != 'DiffPoseHead':
        raise ValueError(f'heatmap_head_like: expected a DiffPoseHead config, got type={head_cfg.get("type")}')
    widths = tuple(head_cfg.get('feat_channels', _DIFFPOSE_DEFAULTS['feat_channels']))
    return copy.deepcopy(
        dict(type='HeatmapHead', in_channels=head_cfg['in_channels'] if in_channels is None else in_channels,
             out_channels=head_cfg['out_channels'], deconv_out_channels=widths[1:3], deconv_kernel_sizes=(4, 4),
             loss=head_cfg.get('loss', _DIFFPOSE_DEFAULTS['loss']), decoder=head_cfg.get('decoder')))


def heatmap_test_cfg(test_cfg: Optional[Mapping]) -> dict:
    """The ``model.test_cfg`` of the baseline: a DiffPose model's without the diffusion sampling keys (flip test,
    heatmap shift etc. stay)."""
    return {k: copy.deepcopy(v) for k, v in (test_cfg or {}).items() if k not in SAMPLING_KEYS}
