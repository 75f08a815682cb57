"""SpatioTemporal Representation Learner (STRL) of DiffPose (Feng et al., ICCV 2023, §3.2, Eq. 3)."""
from typing import Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmpose.models.utils.transformer import nchw_to_nlc, nlc_to_nchw
from mmpose.registry import MODELS
from mmpose.utils.typing import OptMultiConfig
from torch import Tensor, nn

from ..utils import build_transformer_encoder


@MODELS.register_module()
class STRLNeck(BaseModule):
    """Fuse the per-frame feature maps of a ``2δ+1``-frame clip into one key-frame feature map.

    Steps: a patch embedding (1x1 convolution, one token per feature-map location, as in the authors' notes
    where a 16x12 map gives 192 tokens per frame) of every frame; a learnable position embedding per frame
    and location; ``num_layers`` pre-LN Transformer encoder layers over the tokens of *all* frames; LayerNorm;
    and an MLP over the frame axis (a ``Linear(T, 1)`` applied with the frame axis last, which the authors
    describe as the STRL "MLP"). The Linear starts as a temporal mean so that, at initialisation, the neck
    passes single-frame evidence through at its original scale.

    Args:
        in_channels (int): Channels ``C`` of the backbone feature map.
        num_frames (int): Frames per clip ``T = 2δ + 1``. Defaults to 5.
        feat_size (Sequence[int]): Feature-map size ``(h, w)``; 16x12 for a 256x192 input at stride 16.
        embed_dims (int): Token width, also the output channels. Defaults to 256.
        num_layers (int): Transformer depth ``L``. Defaults to 4.
        num_heads (int): Attention heads. Defaults to 8.
        mlp_ratio (float): Feed-forward width / ``embed_dims``. Defaults to 4.
        drop_rate (float): Dropout in the Transformer layers. Defaults to 0.
        init_cfg (dict, optional): Initialisation config.

    Shapes:
        input: a tuple (or list) of backbone outputs, each ``(B, T, C, h, w)``; the last one is used.
        output: a 1-tuple ``((B, embed_dims, h, w),)``.
    """

    def __init__(self, in_channels: int, num_frames: int = 5, feat_size: Sequence[int] = (16, 12),
                 embed_dims: int = 256, num_layers: int = 4, num_heads: int = 8, mlp_ratio: float = 4.,
                 drop_rate: float = 0., init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg)
        if len(feat_size) != 2:
            raise ValueError(f'STRLNeck: feat_size must be (h, w), got {feat_size}')
        if embed_dims % num_heads:
            raise ValueError(f'STRLNeck: embed_dims ({embed_dims}) must be divisible by num_heads ({num_heads})')
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.feat_size = tuple(int(s) for s in feat_size)
        self.embed_dims = embed_dims

        self.patch_embed = nn.Conv2d(in_channels, embed_dims, kernel_size=1)
        num_tokens = num_frames * self.feat_size[0] * self.feat_size[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, embed_dims))
        self.encoder = build_transformer_encoder(embed_dims, num_heads, num_layers, mlp_ratio, drop_rate,
                                                 final_norm=False)
        self.norm = nn.LayerNorm(embed_dims)
        self.temporal_mlp = nn.Linear(num_frames, 1)

    def init_weights(self) -> None:
        super().init_weights()
        init_cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        if any(cfg is not None and cfg.get('type') == 'Pretrained' for cfg in init_cfgs):
            return  # a checkpoint owns the weights
        trunc_normal_(self.pos_embed, std=.02)
        nn.init.constant_(self.temporal_mlp.weight, 1. / self.num_frames)
        nn.init.zeros_(self.temporal_mlp.bias)

    def forward(self, inputs: Union[Tensor, Sequence[Tensor]]) -> Tuple[Tensor]:
        x = inputs if isinstance(inputs, Tensor) else inputs[-1]
        if x.dim() != 5:
            raise ValueError(f'STRLNeck expects per-frame features (B, T, C, h, w), got shape {tuple(x.shape)}; '
                             'use it with VideoTopdownPoseEstimator')
        B, T, C, h, w = x.shape
        if T != self.num_frames or (h, w) != self.feat_size or C != self.in_channels:
            raise ValueError(f'STRLNeck: got T={T}, C={C}, (h, w)=({h}, {w}) but was built with '
                             f'num_frames={self.num_frames}, in_channels={self.in_channels}, '
                             f'feat_size={self.feat_size}; set these in the config to match the data and backbone')

        tokens = nchw_to_nlc(self.patch_embed(x.flatten(0, 1)))  # (B*T, hw, D)
        tokens = tokens.reshape(B, T * h * w, self.embed_dims)
        tokens = self.norm(self.encoder(tokens + self.pos_embed))
        # (B, T, hw, D) -> frames last -> Linear over T -> (B, hw, D)
        tokens = tokens.reshape(B, T, h * w, self.embed_dims).permute(0, 2, 3, 1)
        fused = self.temporal_mlp(tokens).squeeze(-1)
        return (nlc_to_nchw(fused, (h, w)), )
