"""Test-time sampling settings of a diffusion head: the one place that names and checks them.

Every diffusion head (2D heatmaps, 3D lifting) reads ``num_noise_groups`` (N hypotheses averaged per sample),
``sampling_steps`` (DDIM steps), ``eta`` (DDIM stochasticity) and ``seed`` (of the sampling noise) from its
``test_cfg`` through :func:`parse_sampling_cfg`; the sweep test loop sets the same keys.
"""
from typing import Mapping, Optional

import numpy as np
import torch

# Defaults (DiffPose paper §4.1); every key can be overridden by the model's ``test_cfg``.
DEFAULT_SAMPLING = dict(num_noise_groups=10, sampling_steps=4, eta=1.0, seed=None)
SAMPLING_KEYS = tuple(DEFAULT_SAMPLING)


def parse_sampling_cfg(test_cfg: Mapping, owner: str = 'test_cfg') -> dict:
    """The sampling settings in ``test_cfg`` completed with :data:`DEFAULT_SAMPLING` and checked.

    Raises:
        ValueError: naming ``owner`` and the key, for a non-positive N or step count or an eta outside [0, 1].
    """
    cfg = {key: test_cfg.get(key, default) for key, default in DEFAULT_SAMPLING.items()}
    for key in ('num_noise_groups', 'sampling_steps'):
        if not isinstance(cfg[key], (int, np.integer)) or isinstance(cfg[key], bool) or cfg[key] < 1:
            raise ValueError(f'{owner}: test_cfg.{key} must be a positive integer, got {cfg[key]!r}')
    if not 0 <= float(cfg['eta']) <= 1:
        raise ValueError(f'{owner}: test_cfg.eta must be in [0, 1], got {cfg["eta"]!r}')
    return cfg


def resolve_seed(seed: Optional[int]) -> int:
    """``test_cfg.seed``, or a draw from torch's global RNG when it is None (so ``torch.manual_seed`` still
    controls the run, and both flip-test passes can share one seed)."""
    return int(torch.randint(0, 2**62, (1, ))) if seed is None else int(seed)


def seeded_generator(device: torch.device, seed: int) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed``: the source of one sampling run's noise."""
    return torch.Generator(device=device).manual_seed(int(seed))
