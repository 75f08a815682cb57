"""Diffusion-step embedding: sinusoidal features followed by an MLP (DDPM / DiffusionDet)."""
import math

import torch
from torch import Tensor, nn


def sinusoidal_embedding(t: Tensor, dim: int) -> Tensor:
    """Transformer-style sinusoidal features of (possibly fractional) steps.

    Args:
        t (Tensor): ``(B,)`` timesteps.
        dim (int): Even embedding size.

    Returns:
        Tensor: ``(B, dim)``, ``[sin(t·f_0), ..., sin(t·f_{d/2-1}), cos(t·f_0), ...]`` with geometric frequencies
        from 1 to 1/10000.
    """
    if dim % 2:
        raise ValueError(f'sinusoidal_embedding: dim must be even, got {dim}')
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1))
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=-1)


class TimestepEmbedding(nn.Module):
    """``t -> MLP(sinusoidal(t))``: Linear(d, 4d) -> GELU -> Linear(4d, 4d), as in DiffusionDet.

    Args:
        dim (int): Size ``d`` of the sinusoidal features; the output has ``4 * d`` channels.

    Shapes:
        ``(B,)`` steps -> ``(B, 4d)``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.out_channels = 4 * dim
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, 4 * dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, self.dim))
