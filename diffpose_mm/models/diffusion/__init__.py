from .gaussian_diffusion import GaussianDiffusion, cosine_alphas_cumprod
from .gmm_prior import KeypointGMMPrior  # noqa: F401  (DiffPose-3D, issue 9)
from .time_embedding import TimestepEmbedding, sinusoidal_embedding

__all__ = ['GaussianDiffusion', 'cosine_alphas_cumprod', 'TimestepEmbedding', 'sinusoidal_embedding']
