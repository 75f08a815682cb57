"""DiffPose-3D's pose-specific prior: where the forward diffusion ends and the reverse diffusion starts."""
from typing import Optional, Sequence, Tuple

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

PRIOR_MODES = ('gmm', 'gaussian')
STATE_CHANNELS = 5  # per joint: u, v (2D, codec units) and x, y, z (root-relative 3D, metres)


def flip_gmm(gmm: Tensor, flip_indices: Sequence[int]) -> Tensor:
    """Mixtures ``(B, K, M, 5)`` (π, μx, μy, σx, σy; centred codec units) of horizontally flipped inputs:
    ``μx -> -μx`` and left/right joints swapped, as ``PoseLifter``'s flip test does to the 2D keypoints."""
    out = gmm[:, list(flip_indices)].clone()
    out[..., 1] = -out[..., 1]
    return out


def sample_gmm_kernels(gmm: Tensor, num_samples: int,
                       generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    """Draw one kernel per joint (probability ``π``) for each of ``num_samples`` hypotheses.

    Args:
        gmm (Tensor): ``(B, K, M, 5)`` mixtures.
        num_samples (int): ``S`` draws per sample.

    Returns:
        tuple[Tensor, Tensor]: means ``(B, S, K, 2)`` and scales ``(B, S, K, 2)`` of the drawn kernels.
    """
    B, K, M, _ = gmm.shape
    weights = gmm[..., 0].clamp(min=0).reshape(B * K, M)
    weights = weights + (weights.sum(-1, keepdim=True) <= 0).float()  # an all-zero row draws uniformly
    idx = torch.multinomial(weights, num_samples, replacement=True, generator=generator)  # (B*K, S)
    idx = idx.reshape(B, K, num_samples).permute(0, 2, 1)  # (B, S, K)
    kernels = torch.gather(gmm[:, None].expand(B, num_samples, K, M, 5), 3,
                           idx[..., None, None].expand(B, num_samples, K, 1, 5)).squeeze(3)
    return kernels[..., 1:3], kernels[..., 3:5]


@MODELS.register_module()
class KeypointGMMPrior(nn.Module):
    """Mean ``μ`` and per-element scale ``s`` of the diffusion prior ``N(μ, s²)`` over the per-joint state
    ``h = (u, v, x, y, z)`` (:data:`STATE_CHANNELS`).

    ``mode='gmm'`` (DiffPose-3D's pose-specific initialisation and GMM-based forward process): ``(u, v)`` from
    one kernel of the joint's 2D mixture drawn per hypothesis (a left/right swap or an occlusion kernel is
    drawn as often as the mixture says), ``(x, y, z)`` from the context encoder's initial pose with its
    predicted error scale (times ``xyz_scale_factor``, clamped to ``xyz_scale_range``). Samples without a
    mixture (no ``LoadKeypointGMM`` in the pipeline) get one kernel at the 2D input with
    ``default_uv_scale``. ``mode='gaussian'``: the standard ``N(0, I)`` (returns ``None``: the standard
    process, bit for bit).

    Args:
        mode (str): ``'gmm'`` or ``'gaussian'``. Defaults to ``'gmm'``.
        min_uv_scale (float): Floor of the 2D kernel scales (codec units, 1 = half the image width).
            Defaults to 0.002 (1 px of a 1000 px image).
        default_uv_scale (float): 2D scale without a mixture. Defaults to 0.01 (5 px).
        xyz_scale_factor (float): Multiplies the encoder's error scale. Defaults to 1.
        xyz_scale_range (tuple[float, float]): Clamp of the 3D scales (m). Defaults to ``(0.01, 0.5)``.
    """

    def __init__(self, mode: str = 'gmm', min_uv_scale: float = 0.002, default_uv_scale: float = 0.01,
                 xyz_scale_factor: float = 1.0, xyz_scale_range: Tuple[float, float] = (0.01, 0.5)) -> None:
        super().__init__()
        if mode not in PRIOR_MODES:
            raise ValueError(f'KeypointGMMPrior: mode must be one of {PRIOR_MODES}, got {mode!r}')
        self.mode = mode
        self.min_uv_scale = min_uv_scale
        self.default_uv_scale = default_uv_scale
        self.xyz_scale_factor = xyz_scale_factor
        self.xyz_scale_range = tuple(xyz_scale_range)

    def forward(self, keypoints: Tensor, init_pose: Tensor, init_log_sigma: Tensor, gmm: Optional[Tensor],
                num_samples: int,
                generator: Optional[torch.Generator] = None) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """Prior of ``num_samples`` hypotheses per sample.

        Args:
            keypoints (Tensor): ``(B, K, 2)`` 2D input of the target frame.
            init_pose (Tensor): ``(B, K, 3)`` initial 3D pose; no gradient flows into it from here.
            init_log_sigma (Tensor): ``(B, K, 3)`` its log error scale (no gradient either).
            gmm (Tensor, optional): ``(B, K, M, 5)`` mixtures of the target frame, or None.
            num_samples (int): ``S``.

        Returns:
            tuple: ``mean (B, S, K, 5)`` and ``scale (B, S, K, 5)`` in state units, or ``(None, None)`` in
            ``'gaussian'`` mode.
        """
        if self.mode == 'gaussian':
            return None, None
        B, K = keypoints.shape[:2]
        if gmm is None:
            uv_mean = keypoints[:, None].expand(B, num_samples, K, 2)
            uv_scale = torch.full_like(uv_mean, self.default_uv_scale)
        else:
            uv_mean, uv_scale = sample_gmm_kernels(gmm.to(keypoints.dtype), num_samples, generator)
        uv_scale = uv_scale.clamp(min=self.min_uv_scale)
        xyz_mean = init_pose.detach()[:, None].expand(B, num_samples, K, 3)
        xyz_scale = (init_log_sigma.detach().exp() * self.xyz_scale_factor).clamp(*self.xyz_scale_range)
        xyz_scale = xyz_scale[:, None].expand(B, num_samples, K, 3)
        return torch.cat([uv_mean, xyz_mean], -1), torch.cat([uv_scale, xyz_scale], -1)
