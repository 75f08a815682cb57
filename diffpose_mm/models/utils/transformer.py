"""The one Transformer-encoder builder of the STRL neck and the DiffPose head, with fused attention."""
from typing import Optional

from torch import Tensor, nn
from torch.nn import functional as F


class FusedAttentionEncoderLayer(nn.TransformerEncoderLayer):
    """:class:`torch.nn.TransformerEncoderLayer` whose self-attention always runs through
    :func:`torch.nn.functional.scaled_dot_product_attention` (fused attention: flash / memory-efficient kernels).

    Why: in eval mode under ``no_grad`` PyTorch's layer takes its C++ fast path
    (``torch._transformer_encoder_layer_fwd``), whose CPU attention is an unfused ``bmm -> softmax -> bmm``
    (checked with torch 2.13: the profile shows ``aten::bmm`` and ``aten::_softmax``, no SDPA kernel); the
    training path already calls SDPA. This layer uses SDPA in both, so training and inference compute the same
    function with the same kernels.

    Parameters, buffers and state-dict keys are those of the parent (``self_attn.in_proj_weight``,
    ``self_attn.out_proj.*``, ``linear1``, ``linear2``, ``norm1``, ``norm2``), so checkpoints load unchanged.
    Only ``batch_first=True`` is supported; masks fall back to the parent's implementation.

    Shapes: ``src (B, L, D)`` -> ``(B, L, D)``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.self_attn.batch_first:
            raise ValueError('FusedAttentionEncoderLayer needs batch_first=True (tokens (B, L, D))')

    def forward(self, src: Tensor, src_mask: Optional[Tensor] = None, src_key_padding_mask: Optional[Tensor] = None,
                is_causal: bool = False) -> Tensor:
        if src_mask is not None or src_key_padding_mask is not None or is_causal:
            return super().forward(src, src_mask, src_key_padding_mask, is_causal)
        x = src
        if self.norm_first:
            x = x + self._fused_sa_block(self.norm1(x))
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._fused_sa_block(x))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _fused_sa_block(self, x: Tensor) -> Tensor:
        """Multi-head self-attention of ``x (B, L, D)`` with the parent's projections and SDPA."""
        attn = self.self_attn
        B, L, D = x.shape
        # (B, L, 3D) -> (3, B, heads, L, D/heads)
        qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
        q, k, v = qkv.view(B, L, 3, attn.num_heads, D // attn.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=attn.dropout if self.training else 0.)
        return self.dropout1(attn.out_proj(out.transpose(1, 2).reshape(B, L, D)))


def build_transformer_encoder(embed_dims: int, num_heads: int, num_layers: int, mlp_ratio: float = 4.,
                              drop_rate: float = 0., final_norm: bool = True) -> nn.TransformerEncoder:
    """Pre-LN, batch-first Transformer encoder with GELU feed-forward layers and fused attention.

    Tokens are ``(B, L, embed_dims)``. All ``num_layers`` layers start as copies of one initialised
    :class:`FusedAttentionEncoderLayer` (:class:`torch.nn.TransformerEncoder` deep-copies it), and the state-dict
    keys are ``layers.{i}.*`` plus ``norm.*`` with ``final_norm`` (those of ``nn.TransformerEncoderLayer``).

    Args:
        embed_dims (int): Token width.
        num_heads (int): Attention heads; must divide ``embed_dims``.
        num_layers (int): Number of encoder layers.
        mlp_ratio (float): Feed-forward width / ``embed_dims``. Defaults to 4.
        drop_rate (float): Dropout in the layers. Defaults to 0.
        final_norm (bool): End with a LayerNorm (pre-LN layers leave their output un-normalised). Defaults to
            True; False when the caller applies its own norm.
    """
    layer = FusedAttentionEncoderLayer(embed_dims, num_heads, dim_feedforward=int(embed_dims * mlp_ratio),
                                       dropout=drop_rate, activation='gelu', batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(embed_dims) if final_norm else None,
                                 enable_nested_tensor=False)
