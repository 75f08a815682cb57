"""The one Transformer-encoder builder of the STRL neck and the DiffPose head."""
from torch import nn


def build_transformer_encoder(embed_dims: int,
                              num_heads: int,
                              num_layers: int,
                              mlp_ratio: float = 4.,
                              drop_rate: float = 0.,
                              final_norm: bool = True) -> nn.TransformerEncoder:
    """Pre-LN, batch-first Transformer encoder with GELU feed-forward layers.

    Tokens are ``(B, L, embed_dims)``. All ``num_layers`` layers start as copies of one initialised layer
    (:class:`torch.nn.TransformerEncoder` deep-copies it), and the state-dict keys are ``layers.{i}.*`` plus
    ``norm.*`` with ``final_norm``.

    Args:
        embed_dims (int): Token width.
        num_heads (int): Attention heads; must divide ``embed_dims``.
        num_layers (int): Number of encoder layers.
        mlp_ratio (float): Feed-forward width / ``embed_dims``. Defaults to 4.
        drop_rate (float): Dropout in the layers. Defaults to 0.
        final_norm (bool): End with a LayerNorm (pre-LN layers leave their output un-normalised). Defaults to
            True; False when the caller applies its own norm.
    """
    layer = nn.TransformerEncoderLayer(
        embed_dims,
        num_heads,
        dim_feedforward=int(embed_dims * mlp_ratio),
        dropout=drop_rate,
        activation='gelu',
        batch_first=True,
        norm_first=True)
    return nn.TransformerEncoder(
        layer, num_layers, norm=nn.LayerNorm(embed_dims) if final_norm else None, enable_nested_tensor=False)
