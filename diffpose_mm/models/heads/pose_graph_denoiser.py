"""The denoiser of DiffPose-3D: attention and skeleton graph convolutions over the joints (GraFormer-style)."""
from typing import Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmpose.registry import MODELS
from torch import Tensor, nn

from ..diffusion.time_embedding import TimestepEmbedding

# Human3.6M bones (MMPose metainfo ``configs/_base_/datasets/h36m.py``, ``skeleton_links``).
H36M_SKELETON = ((0, 4), (4, 5), (5, 6), (0, 1), (1, 2), (2, 3), (0, 7), (7, 8), (8, 9), (9, 10), (8, 11), (11, 12),
                 (12, 13), (8, 14), (14, 15), (15, 16))


def normalized_adjacency(num_nodes: int, edges: Sequence[Tuple[int, int]]) -> Tensor:
    """``D^-1/2 (A + I) D^-1/2`` ``(K, K)`` of an undirected graph (Kipf & Welling)."""
    adj = torch.eye(num_nodes)
    for a, b in edges:
        if not (0 <= a < num_nodes and 0 <= b < num_nodes):
            raise ValueError(f'skeleton link ({a}, {b}) is outside the {num_nodes} joints')
        adj[a, b] = adj[b, a] = 1
    d = adj.sum(1).rsqrt()
    return d[:, None] * adj * d[None]


class _SkeletonGraphConv(nn.Module):
    """``(Â + Δ) X W``: graph convolution on the skeleton whose adjacency ``Â`` is refined by a learned ``Δ``
    (zero at start), as GraFormer's learnable-adjacency graph layers. ``(B, K, C) -> (B, K, C)``."""

    def __init__(self, channels: int, adjacency: Tensor) -> None:
        super().__init__()
        self.register_buffer('adjacency', adjacency, persistent=False)
        self.delta = nn.Parameter(torch.zeros_like(adjacency))
        self.linear = nn.Linear(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum('ij,bjc->bic', self.adjacency + self.delta, self.linear(x))


class _DenoiserBlock(nn.Module):
    """Pre-LN: multi-head self-attention over joints, skeleton graph convolution, step-modulated MLP."""

    def __init__(self, channels: int, num_heads: int, mlp_ratio: float, adjacency: Tensor, step_channels: int,
                 dropout: float) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, num_heads, dropout=dropout, batch_first=True)
        self.norm_graph = nn.LayerNorm(channels)
        self.graph = _SkeletonGraphConv(channels, adjacency)
        self.norm_mlp = nn.LayerNorm(channels)
        self.film = nn.Sequential(nn.SiLU(), nn.Linear(step_channels, 2 * channels))
        hidden = int(channels * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, channels))
        nn.init.zeros_(self.film[-1].weight)  # FiLM starts as identity
        nn.init.zeros_(self.film[-1].bias)

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        y = self.norm_attn(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        x = x + torch.relu(self.graph(self.norm_graph(x)))
        scale, shift = self.film(temb)[:, None].chunk(2, dim=-1)
        return x + self.mlp(self.norm_mlp(x) * (1 + scale) + shift)


@MODELS.register_module()
class PoseGraphDenoiser(BaseModule):
    """Per-joint denoiser: ``(x_t, t, cond) -> Δ``, the correction of every joint's state.

    Each joint is a token embedding its noisy state (as the head presents it: the offset from the initial pose
    in units of the prior's scale), its condition (initial pose, prior and context, assembled by the head) and a
    learned joint embedding; ``num_layers`` blocks of self-attention (all joints), skeleton graph
    convolution (neighbours) and an MLP modulated by the diffusion step (FiLM) refine the tokens, and a linear
    layer (zero at start) reads out the correction. The authors' GCNdiff is a GraFormer of ChebConv and
    attention layers with the step embedding added in each block; this is the same kind of network.

    Args:
        num_keypoints (int): ``K``. Defaults to 17.
        state_channels (int): ``D`` of the state per joint. Defaults to 5 (u, v, x, y, z).
        cond_channels (int): Condition channels per joint. Defaults to 3 x 5 + 64.
        embed_dims (int): Token width. Defaults to 96.
        num_layers (int): Blocks. Defaults to 3.
        num_heads (int): Attention heads. Defaults to 4.
        mlp_ratio (float): MLP hidden width / ``embed_dims``. Defaults to 2.
        time_embed_dims (int): Sinusoidal step features (``TimestepEmbedding`` outputs 4x). Defaults to 32.
        skeleton_links (Sequence[tuple[int, int]], optional): Bones of the graph. Defaults to
            :data:`H36M_SKELETON`.
        dropout (float): Attention and MLP dropout. Defaults to 0.
        init_cfg (dict, optional): Initialisation config.

    Shapes:
        ``x_t (B, K, D)``, ``t (B,)``, ``cond (B, K, cond_channels)`` -> ``(B, K, D)``.
    """

    def __init__(self, num_keypoints: int = 17, state_channels: int = 5, cond_channels: int = 79, embed_dims: int = 96,
                 num_layers: int = 3, num_heads: int = 4, mlp_ratio: float = 2., time_embed_dims: int = 32,
                 skeleton_links: Optional[Sequence[Tuple[int, int]]] = None, dropout: float = 0.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'PoseGraphDenoiser: embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads})')
        self.num_keypoints = num_keypoints
        self.state_channels = state_channels
        self.cond_channels = cond_channels
        adjacency = normalized_adjacency(num_keypoints, H36M_SKELETON if skeleton_links is None else skeleton_links)
        self.embed = nn.Linear(state_channels + cond_channels, embed_dims)
        self.joint_embed = nn.Parameter(torch.randn(num_keypoints, embed_dims) * 0.02)
        self.time_embed = TimestepEmbedding(time_embed_dims)
        self.blocks = nn.ModuleList([
            _DenoiserBlock(embed_dims, num_heads, mlp_ratio, adjacency, self.time_embed.out_channels, dropout)
            for _ in range(num_layers)
        ])
        self.norm_out = nn.LayerNorm(embed_dims)
        self.out = nn.Linear(embed_dims, state_channels)
        nn.init.zeros_(self.out.weight)  # start by predicting the prior mean
        nn.init.zeros_(self.out.bias)

    def forward(self, x_t: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        if x_t.shape[1:] != (self.num_keypoints, self.state_channels) or cond.shape[-1] != self.cond_channels:
            raise ValueError(f'PoseGraphDenoiser expects x_t (B, {self.num_keypoints}, {self.state_channels}) and '
                             f'cond (B, {self.num_keypoints}, {self.cond_channels}), got {tuple(x_t.shape)} and '
                             f'{tuple(cond.shape)}')
        x = self.embed(torch.cat([x_t, cond], -1)) + self.joint_embed
        temb = self.time_embed(t)
        for block in self.blocks:
            x = block(x, temb)
        return self.out(self.norm_out(x))
