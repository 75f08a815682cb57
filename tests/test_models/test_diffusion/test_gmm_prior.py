"""KeypointGMMPrior: the pose-specific prior of DiffPose-3D (2D mixture kernels and the encoder's pose)."""
import numpy as np
import pytest
import torch

from diffpose_mm.models.diffusion.gmm_prior import KeypointGMMPrior, flip_gmm, sample_gmm_kernels

FLIP = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]


def _gmm(B=2, K=17, M=5):
    gmm = torch.zeros(B, K, M, 5)
    gmm[..., 0, 0], gmm[..., 1, 0] = 0.7, 0.3
    gmm[..., 0, 1:3] = torch.tensor([0.1, 0.2])
    gmm[..., 1, 1:3] = torch.tensor([-0.4, 0.5])
    gmm[..., 0, 3:], gmm[..., 1, 3:] = 0.01, 0.05
    gmm[..., 2:, 3:] = 1.
    return gmm


def test_kernels_are_drawn_with_the_mixture_weights():
    mean, scale = sample_gmm_kernels(_gmm(), 4000, torch.Generator().manual_seed(0))
    assert mean.shape == scale.shape == (2, 4000, 17, 2)
    second = (mean[..., 0] == -0.4).float().mean().item()
    assert second == pytest.approx(0.3, abs=0.02)
    assert torch.all((mean[..., 0] == 0.1) | (mean[..., 0] == -0.4))  # never the weightless kernels
    assert torch.equal(scale[mean[..., 0] == -0.4], torch.full_like(scale[mean[..., 0] == -0.4], 0.05))
    again, _ = sample_gmm_kernels(_gmm(), 4000, torch.Generator().manual_seed(0))
    assert torch.equal(mean, again)


def test_prior_mean_and_scale_of_the_state():
    prior = KeypointGMMPrior(xyz_scale_range=(0.01, 0.5))
    kpts = torch.randn(2, 17, 2)
    init = torch.randn(2, 17, 3, requires_grad=True)
    log_sigma = torch.full((2, 17, 3), np.log(0.2))
    log_sigma[0, 3] = np.log(5.)  # clamped to 0.5
    mean, scale = prior(kpts, init, log_sigma, _gmm(), 3, torch.Generator().manual_seed(1))
    assert mean.shape == scale.shape == (2, 3, 17, 5)
    assert torch.equal(mean[..., 2:], init.detach()[:, None].expand(2, 3, 17, 3)) and not mean.requires_grad
    assert torch.allclose(scale[:, :, 5, 2:], torch.tensor(0.2)) and torch.allclose(scale[0, :, 3, 2:],
                                                                                    torch.tensor(.5))
    assert torch.all(torch.isclose(mean[..., 0], torch.tensor(0.1)) | torch.isclose(mean[..., 0], torch.tensor(-0.4)))
    # without mixtures: one kernel at the 2D input with the default scale; the Gaussian mode: the standard prior
    mean, scale = prior(kpts, init, log_sigma, None, 2)
    assert torch.equal(mean[:, 1, :, :2], kpts) and torch.allclose(scale[..., :2], torch.tensor(0.01))
    assert KeypointGMMPrior(mode='gaussian')(kpts, init, log_sigma, _gmm(), 2) == (None, None)
    with pytest.raises(ValueError, match='mode'):
        KeypointGMMPrior(mode='uniform')


def test_flip_gmm_mirrors_and_swaps_joints():
    gmm = torch.rand(1, 17, 5, 5)
    flipped = flip_gmm(gmm, FLIP)
    assert torch.equal(flipped[0, 1, :, 1], -gmm[0, 4, :, 1]) and torch.equal(flipped[0, 1, :, 2:], gmm[0, 4, :, 2:])
    assert torch.equal(flip_gmm(flipped, FLIP), gmm)
