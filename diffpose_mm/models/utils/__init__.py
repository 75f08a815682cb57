from .positional_encoding import sine_pos_embed_2d
from .transformer import build_transformer_encoder

__all__ = ['build_transformer_encoder', 'sine_pos_embed_2d']
