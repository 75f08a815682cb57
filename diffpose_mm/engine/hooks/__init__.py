from .diffusion_sampling_hook import DiffusionSamplingHook

__all__ = ['DiffusionSamplingHook']
