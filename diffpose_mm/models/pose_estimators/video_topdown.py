"""Top-down pose estimator for clips of frames cropped around one person."""
from typing import Tuple

from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class VideoTopdownPoseEstimator(TopdownPoseEstimator):
    """:class:`TopdownPoseEstimator` whose input is a clip ``(B, T, 3, H, W)`` centred on the key frame.

    Any MMPose backbone runs on every frame (frames are folded into the batch), and the neck (e.g.
    :class:`STRLNeck`) receives per-frame features ``(B, T, C, h, w)`` and fuses them into key-frame features
    ``(B, C, h, w)`` for the head. Single images ``(B, 3, H, W)`` are treated as clips with ``T = 1``; without
    a neck, ``T = 1`` features go to the head as ``(B, C, h, w)``, i.e. the estimator then behaves exactly like
    :class:`TopdownPoseEstimator`. Flip test needs nothing extra: MMPose's ``inputs.flip(-1)`` flips the width
    of every frame. Constructor arguments are those of :class:`TopdownPoseEstimator`.

    The head reads the estimator's own ``test_cfg`` dict (MMPose gives it a copy), so test-time settings such as
    the diffusion sampling keys are set in one place, ``model.test_cfg``, for ``predict`` and ``forward`` alike.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.with_head:
            # BasePoseEstimator sets `head.test_cfg = test_cfg.copy()`: a second dict that a change of
            # `model.test_cfg` (e.g. by SamplingSweepTestLoop) would leave stale for `head.forward`
            self.head.test_cfg = self.test_cfg

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor]:
        """Per-frame backbone features, fused by the neck.

        Args:
            inputs (Tensor): ``(B, T, 3, H, W)`` clips or ``(B, 3, H, W)`` images.

        Returns:
            tuple[Tensor]: Neck outputs, or, without a neck, backbone outputs ``(B, C, h, w)`` (``T = 1`` only).
        """
        if inputs.dim() == 4:
            inputs = inputs.unsqueeze(1)
        if inputs.dim() != 5:
            raise ValueError('VideoTopdownPoseEstimator expects inputs (B, T, 3, H, W) or (B, 3, H, W), got '
                             f'shape {tuple(inputs.shape)}; check the data preprocessor')
        B, T = inputs.shape[:2]
        feats = self.backbone(inputs.flatten(0, 1))
        if isinstance(feats, Tensor):
            feats = (feats, )
        feats = tuple(f.reshape(B, T, *f.shape[1:]) for f in feats)
        if self.with_neck:
            return self.neck(feats)
        if T != 1:
            raise ValueError(f'VideoTopdownPoseEstimator got {T} frames per sample but has no neck to fuse them; '
                             'add a temporal neck such as STRLNeck (num_frames must match the clip length)')
        return tuple(f.squeeze(1) for f in feats)
