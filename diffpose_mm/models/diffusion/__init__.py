from .gaussian_diffusion import GaussianDiffusion, cosine_alphas_cumprod
from .time_embedding import TimestepEmbedding, sinusoidal_embedding

__all__ = ['GaussianDiffusion', 'cosine_alphas_cumprod', 'TimestepEmbedding', 'sinusoidal_embedding']
