"""Fixed 2D sine position encoding, computed once per grid size, width, device and dtype."""
from functools import lru_cache

import torch
from torch import Tensor

from ..diffusion.time_embedding import sinusoidal_embedding


def sine_pos_embed_2d(h: int, w: int, dims: int, device: torch.device, dtype: torch.dtype = torch.float32) -> Tensor:
    """Fixed 2D sinusoidal position embedding ``(1, h*w, dims)`` of a row-major ``h x w`` token grid.

    The first ``dims/2`` channels encode the row and the last ``dims/2`` the column, each as
    :func:`sinusoidal_embedding` (``[sin, cos]`` halves, frequencies from 1 to 1/10000, positions from 0);
    computed in float32, then cast to ``dtype``.

    The result is cached (one tensor per ``(h, w, dims, device, dtype)``) and shared by every caller, so it
    must not be modified in place. It is created outside inference mode, so a first call under
    ``torch.inference_mode()`` does not break later training steps.

    MMDet's ``SinePositionalEncoding`` (positions from 1, interleaved sin/cos, ``temperature**(2*(i//2)/n)``)
    and MMPose's (cos first, ``temperature**(i/n)``, ``(..., 2)`` axis layout) give different encodings, so
    checkpoints trained with this one need this one.
    """
    if dims % 4:
        raise ValueError(f'sine_pos_embed_2d: dims must be divisible by 4 (sin + cos per axis), got {dims}')
    return _cached_sine_pos_embed_2d(int(h), int(w), int(dims), torch.device(device), dtype)


@lru_cache(maxsize=32)
def _cached_sine_pos_embed_2d(h: int, w: int, dims: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    with torch.inference_mode(False), torch.no_grad():
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing='ij')
        embed = torch.cat(
            [sinusoidal_embedding(ys.flatten(), dims // 2),
             sinusoidal_embedding(xs.flatten(), dims // 2)], dim=-1)[None]
        return embed.to(dtype)


sine_pos_embed_2d.cache_clear = _cached_sine_pos_embed_2d.cache_clear
sine_pos_embed_2d.cache_info = _cached_sine_pos_embed_2d.cache_info
