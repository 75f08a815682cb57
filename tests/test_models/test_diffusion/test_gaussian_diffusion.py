import math

import pytest
import torch

from diffpose_mm.models.diffusion import GaussianDiffusion, TimestepEmbedding, sinusoidal_embedding


def closed_form_abar(t: int, T: int = 1000, s: float = 0.008) -> float:
    f = lambda x: math.cos((x / T + s) / (1 + s) * math.pi / 2)**2  # noqa: E731
    return f(t + 1) / f(0)  # ᾱ after t+1 noising steps, t indexed from 0


def test_cosine_schedule_values():
    diff = GaussianDiffusion(num_timesteps=1000)
    abar = diff.alphas_cumprod
    assert abar.shape == (1000, )
    assert torch.all(abar[1:] < abar[:-1]), 'ᾱ must decrease strictly'
    assert abar[0] > 0.9999 and abar[-1] < 1e-6
    # betas stay within DDPM's clip and ᾱ is their cumulative product
    assert diff.betas.min() >= 0 and diff.betas.max() <= 0.999
    assert torch.allclose(torch.cumprod(1 - diff.betas.double(), 0).float(), abar, rtol=1e-5)
    for t in (0, 1, 249, 499, 749, 990):  # betas are only clipped in the very last steps
        assert abar[t].item() == pytest.approx(closed_form_abar(t), rel=1e-5, abs=1e-7)
    # the reference numbers quoted in the research notes: sqrt(ᾱ) ≈ 0.38 / 0.70 / 0.92 at 749 / 499 / 249
    assert diff.sqrt_alphas_cumprod[[749, 499, 249]].tolist() == pytest.approx([0.38, 0.70, 0.92], abs=0.01)
    for t in (10, 500, 900):
        abar_t = closed_form_abar(t)
        assert diff.sqrt_recip_alphas_cumprod[t].item() == pytest.approx(abar_t**-0.5, rel=1e-4)
        assert diff.sqrt_recipm1_alphas_cumprod[t].item() == pytest.approx((1 / abar_t - 1)**0.5, rel=1e-4)


def test_schedule_follows_T_and_s():
    short = GaussianDiffusion(num_timesteps=10, cosine_s=0.1)
    assert short.alphas_cumprod.shape == (10, )
    assert short.alphas_cumprod[4].item() == pytest.approx(closed_form_abar(4, T=10, s=0.1), rel=1e-5)


def test_add_noise_statistics():
    diff = GaussianDiffusion()
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x_start = torch.full((n, 1), 1.5)
    for t in (10, 500, 900):
        noise = torch.randn(n, 1, generator=g)
        x_t = diff.add_noise(x_start, torch.full((n, ), t), noise)
        abar = diff.alphas_cumprod[t].item()
        assert x_t.mean().item() == pytest.approx(math.sqrt(abar) * 1.5, abs=0.01)
        assert x_t.var().item() == pytest.approx(1 - abar, abs=0.01)


def test_q_sample_scaling_and_clamping():
    diff = GaussianDiffusion(signal_scale=2.0)
    g = torch.Generator().manual_seed(0)
    x0 = torch.zeros(4000, 2, 8, 8)
    x0[:, 0] = 1.0  # channel 0 is "peak", channel 1 background
    # t = 0: almost no noise, the network input is the data itself
    x_t = diff.q_sample(x0, torch.zeros(4000, dtype=torch.long), generator=g)
    assert torch.allclose(x_t, x0, atol=0.05)
    # always inside the data range because the signal is clamped to ±scale
    t = torch.full((4000, ), 999)
    x_t = diff.q_sample(x0, t, generator=g)
    assert x_t.min() >= 0 and x_t.max() <= 1
    # at t = T-1 the signal is gone: both channels look alike, centred on 0.5, and the clamped fraction matches
    # P(|N(0, 1)| > scale)
    assert x_t[:, 0].mean().item() == pytest.approx(0.5, abs=0.01)
    assert x_t[:, 1].mean().item() == pytest.approx(0.5, abs=0.01)
    clamped = ((x_t == 0) | (x_t == 1)).float().mean().item()
    assert clamped == pytest.approx(math.erfc(2.0 / math.sqrt(2)), abs=0.005)
    # explicit noise reproduces the composition to_data(add_noise(to_signal(x0)))
    noise = torch.randn(x0.shape, generator=g)
    t = torch.randint(0, 1000, (4000, ), generator=g)
    expected = diff.to_data(diff.add_noise(diff.to_signal(x0), t, noise))
    assert torch.equal(diff.q_sample(x0, t, noise), expected)
    assert torch.allclose(diff.to_data(diff.to_signal(x0)), x0)


def test_sample_timesteps_uniform():
    diff = GaussianDiffusion()
    t = diff.sample_timesteps(100_000, torch.device('cpu'), torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and t.min() >= 0 and t.max() <= 999
    counts = torch.bincount(t // 100, minlength=10).float()
    assert torch.allclose(counts / 100_000, torch.full((10, ), 0.1), atol=0.01)


def test_ddim_time_pairs():
    diff = GaussianDiffusion()
    assert diff.ddim_time_pairs(1) == [(999, -1)]
    assert diff.ddim_time_pairs(4) == [(999, 749), (749, 499), (499, 249), (249, -1)]
    assert diff.ddim_time_pairs(2) == [(999, 499), (499, -1)]
    with pytest.raises(ValueError, match='sampling_steps'):
        diff.ddim_time_pairs(0)


def test_predict_noise_from_start_inverts_add_noise():
    diff = GaussianDiffusion()
    g = torch.Generator().manual_seed(1)
    x_start = torch.randn(6, 3, 4, generator=g)
    noise = torch.randn(6, 3, 4, generator=g)
    t = torch.tensor([0, 10, 300, 600, 900, 998])
    x_t = diff.add_noise(x_start, t, noise)
    assert torch.allclose(diff.predict_noise_from_start(x_t, t, x_start), noise, atol=2e-3)


@pytest.mark.parametrize('eta', [0.0, 1.0])
def test_ddim_step_with_perfect_x0_stays_on_the_forward_marginal(eta):
    """With the true x0 and the true noise, a deterministic DDIM step lands exactly on add_noise(x0, t_next, ε),
    and the final step (t_next = -1) returns x0."""
    diff = GaussianDiffusion()
    g = torch.Generator().manual_seed(2)
    x_start = diff.to_signal(torch.rand(5, 2, 3, generator=g))
    noise = torch.randn(5, 2, 3, generator=g)
    x_t = diff.add_noise(x_start, torch.full((5, ), 749), noise)
    if eta == 0:
        x_next = diff.ddim_step(x_t, x_start, 749, 499, eta=0.0)
        assert torch.allclose(x_next, diff.add_noise(x_start, torch.full((5, ), 499), noise), atol=1e-4)
    else:  # stochastic: the mean is right, the noise comes from the generator and is reproducible
        a = diff.ddim_step(x_t, x_start, 749, 499, eta=1.0, generator=torch.Generator().manual_seed(3))
        b = diff.ddim_step(x_t, x_start, 749, 499, eta=1.0, generator=torch.Generator().manual_seed(3))
        assert torch.equal(a, b)
        assert not torch.allclose(a, diff.ddim_step(x_t, x_start, 749, 499, eta=0.0))
    assert torch.equal(diff.ddim_step(x_t, x_start, 249, -1, eta=eta), x_start)


@pytest.mark.parametrize('steps', [1, 4])
def test_sample_with_perfect_denoiser_recovers_x0(steps):
    diff = GaussianDiffusion()
    target = torch.rand(3, 2, 4, 4, generator=torch.Generator().manual_seed(4))
    calls = []

    def oracle(x_t, t, x_prev):
        assert x_prev is None if not calls else torch.equal(x_prev, target)  # the previous step's prediction
        assert x_t.min() >= 0 and x_t.max() <= 1  # the network only ever sees data-range inputs
        calls.append(t.tolist())
        return target

    out = diff.sample(oracle, target.shape, steps, eta=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, target)
    assert [c[0] for c in calls] == [p[0] for p in diff.ddim_time_pairs(steps)]
    assert all(len(set(c)) == 1 and len(c) == 3 for c in calls)


def test_sample_seeded_determinism_and_noise_dependence():
    diff = GaussianDiffusion()

    def denoiser(x_t, t, x_prev):  # a denoiser whose output depends on its input and on t
        return (x_t * 0.5 + 0.25) * (1 - t[:, None, None, None] / 2000)

    run = lambda seed, eta: diff.sample(  # noqa: E731
        denoiser, (2, 3, 5, 5), 4, eta=eta, generator=torch.Generator().manual_seed(seed))
    for eta in (0.0, 1.0):
        assert torch.equal(run(7, eta), run(7, eta))
        assert not torch.allclose(run(7, eta), run(8, eta))
    assert not torch.allclose(run(7, 0.0), run(7, 1.0))


def test_invalid_arguments():
    with pytest.raises(ValueError, match='num_timesteps'):
        GaussianDiffusion(num_timesteps=0)
    with pytest.raises(ValueError, match='signal_scale'):
        GaussianDiffusion(signal_scale=0)


def test_timestep_embedding():
    emb = sinusoidal_embedding(torch.tensor([0, 1, 999]), 8)
    assert emb.shape == (3, 8)
    assert torch.allclose(emb[0], torch.tensor([0.] * 4 + [1.] * 4))
    assert emb[1, 0].item() == pytest.approx(math.sin(1.0)) and emb[1, 4].item() == pytest.approx(math.cos(1.0))
    assert torch.allclose(emb.pow(2).reshape(3, 2, 4).sum(1), torch.ones(3, 4))  # sin² + cos² = 1
    module = TimestepEmbedding(8)
    out = module(torch.tensor([3, 500]))
    assert out.shape == (2, 32) and not torch.allclose(out[0], out[1])
    with pytest.raises(ValueError, match='even'):
        sinusoidal_embedding(torch.tensor([1]), 7)


def test_normalized_network_input_has_unit_second_moment():
    """``input_mode='normalize'`` divides x_t by sqrt(ᾱ s² + 1 - ᾱ): for background data (x0 = 0, signal -s)
    that is exactly the root mean square of x_t, at every t and scale; nothing is clamped."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.zeros(100_000, 1)
    for scale in (0.1, 2.0):
        diff = GaussianDiffusion(signal_scale=scale, input_mode='normalize')
        for t in (0, 500, 999):
            x_in = diff.q_sample(x0, torch.full((100_000, ), t), generator=g)
            assert x_in.pow(2).mean().item() == pytest.approx(1.0, abs=0.02)
        # at t = 0 the input is the data in signal units divided by the scale: 2 * x0 - 1
        peak = diff.q_sample(torch.ones(1, 1), torch.zeros(1, dtype=torch.long), noise=torch.zeros(1, 1))
        assert peak.item() == pytest.approx(1.0, abs=0.005)
    clamp = GaussianDiffusion(signal_scale=0.1)
    pure_noise = clamp.q_sample(x0, torch.full((100_000, ), 999), generator=g)
    # the clamp of DiffusionDet makes pure noise nearly binary at small scales: most values hit 0 or 1
    assert ((pure_noise == 0) | (pure_noise == 1)).float().mean().item() > 0.9


def test_last_step_prob_moves_draws_to_pure_noise():
    diff = GaussianDiffusion(last_step_prob=0.3)
    t = diff.sample_timesteps(100_000, torch.device('cpu'), torch.Generator().manual_seed(0))
    assert (t == 999).float().mean().item() == pytest.approx(0.3 + 0.7 / 1000, abs=0.01)
    rest = t[t != 999]
    counts = torch.bincount(rest // 100, minlength=10).float()
    assert torch.allclose(counts / len(rest), torch.full((10, ), 0.1), atol=0.01)


@pytest.mark.parametrize('kwargs,match', [(dict(input_mode='clip'), 'input_mode'),
                                          (dict(last_step_prob=1.5), 'last_step_prob'),
                                          (dict(signal_scale=0), 'signal_scale')])
def test_invalid_schedule_settings_name_the_option(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianDiffusion(**kwargs)


# ----------------------------------------------------------------------------------------------- prior N(μ, s²)
def _prior(shape, seed=11):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 0.5, torch.rand(shape, generator=g) * 0.3 + 0.05


def test_identity_prior_is_bit_identical_to_the_standard_process():
    """μ = 0, s = 1 given explicitly changes nothing, bit for bit (the 2D head passes no prior at all)."""
    diff = GaussianDiffusion(num_timesteps=50)
    g = torch.Generator().manual_seed(12)
    x0, noise = torch.rand(4, 17, 5, generator=g), torch.randn(4, 17, 5, generator=g)
    t = torch.tensor([0, 10, 30, 49])
    zero, one = torch.zeros(17, 5), torch.ones(17, 5)
    assert torch.equal(diff.q_sample(x0, t, noise, prior_mean=zero, prior_scale=one), diff.q_sample(x0, t, noise))
    x_t, x_s = diff.to_signal(x0), diff.to_signal(x0.flip(0))
    assert torch.equal(diff.ddim_step(x_t, x_s, 30, 10, 0.0, None, zero, one), diff.ddim_step(x_t, x_s, 30, 10, 0.0))

    def denoiser(x_in, t, x_prev):
        return x_in * 0.9 + 0.05

    a = diff.sample(denoiser, (4, 17, 5), 3, generator=torch.Generator().manual_seed(0), prior_mean=zero,
                    prior_scale=one)
    assert torch.equal(a, diff.sample(denoiser, (4, 17, 5), 3, generator=torch.Generator().manual_seed(0)))


def test_add_noise_with_prior_has_the_gmm_forward_marginal():
    """q(x_t | x_0) = N(sqrt(ᾱ) x_0 + (1 - sqrt(ᾱ)) μ, (1 - ᾱ) s²) per element."""
    diff = GaussianDiffusion(num_timesteps=50)
    n = 200_000
    x_start = torch.full((n, 2), 0.4)
    mean, scale = torch.tensor([1.5, -0.7]), torch.tensor([0.2, 0.05])
    g = torch.Generator().manual_seed(13)
    for t in (0, 25, 49):
        x_t = diff.add_noise(x_start, torch.full((n, ), t), torch.randn(n, 2, generator=g), mean, scale)
        abar = diff.alphas_cumprod[t].item()
        expected = math.sqrt(abar) * 0.4 + (1 - math.sqrt(abar)) * mean
        assert torch.allclose(x_t.mean(0), expected, atol=3e-3)
        assert torch.allclose(x_t.std(0), math.sqrt(1 - abar) * scale, rtol=0.02, atol=1e-4)
    # at the last step the sample is (almost) a draw from the prior itself
    assert diff.alphas_cumprod[-1].item() < 1e-3


def test_predict_noise_and_ddim_step_with_prior_stay_on_the_forward_marginal():
    diff = GaussianDiffusion(num_timesteps=50)
    g = torch.Generator().manual_seed(14)
    mean, scale = _prior((17, 5))
    x_start = torch.randn(3, 17, 5, generator=g) * 0.3
    noise = torch.randn(3, 17, 5, generator=g)
    x_t = diff.add_noise(x_start, torch.full((3, ), 40), noise, mean, scale)
    assert torch.allclose(
        diff.predict_noise_from_start(x_t, torch.full((3, ), 40), x_start, mean, scale), noise, atol=1e-4)
    x_next = diff.ddim_step(x_t, x_start, 40, 20, 0.0, None, mean, scale)
    assert torch.allclose(x_next, diff.add_noise(x_start, torch.full((3, ), 20), noise, mean, scale), atol=1e-5)
    # without the prior the same numbers land elsewhere: the prior is really used
    assert not torch.allclose(x_next, diff.ddim_step(x_t, x_start, 40, 20, 0.0), atol=1e-3)
    assert torch.equal(diff.ddim_step(x_t, x_start, 20, -1, 1.0, None, mean, scale), x_start)


def test_sample_with_prior_starts_from_the_prior_and_recovers_x0():
    """The first network input is a draw from N(μ, s²) (seen through network_input), and a perfect denoiser
    still returns the data."""
    diff = GaussianDiffusion(num_timesteps=50, signal_scale=100.)  # clamping never bites at this scale
    n = 20_000
    mean, scale = torch.tensor([30., -20.]), torch.tensor([4., 0.5])
    target = torch.full((n, 2), 0.6)
    first = []

    def oracle(x_in, t, x_prev):
        if not first:
            first.append((x_in * 2 - 1) * diff.signal_scale)  # back from [0, 1] to signal space
        return target

    out = diff.sample(oracle, (n, 2), 3, eta=1.0, generator=torch.Generator().manual_seed(15), prior_mean=mean,
                      prior_scale=scale)
    assert torch.equal(out, target)
    assert torch.allclose(first[0].mean(0), mean, atol=0.1)
    assert torch.allclose(first[0].std(0), scale, rtol=0.03)


@pytest.mark.parametrize('eta', [0.0, 1.0])
def test_one_generator_per_trajectory_equals_separate_runs(eta):
    """Two trajectories in one batch, one generator each (the flip-test pair): each half equals a separate run
    with its generator, and halves with generators seeded alike are identical."""
    diff = GaussianDiffusion(num_timesteps=100, signal_scale=0.5, input_mode='normalize')
    weight = torch.linspace(0.5, 1.5, 6).reshape(1, 1, 6)

    def denoise(x_t, t, x_prev):  # depends on x_t, t and x_prev, so any noise mismatch shows
        out = torch.sigmoid(x_t * weight + t[:, None, None] / 100)
        return out if x_prev is None else 0.5 * (out + x_prev)

    def run(shape, generator):
        return diff.sample(denoise, shape, steps=3, eta=eta, generator=generator)

    pair = run((8, 4, 6), [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)])
    torch.testing.assert_close(pair[:4], run((4, 4, 6), torch.Generator().manual_seed(1)), rtol=0, atol=0)
    torch.testing.assert_close(pair[4:], run((4, 4, 6), torch.Generator().manual_seed(2)), rtol=0, atol=0)
    assert not torch.equal(pair[:4], pair[4:])
    alike = run((8, 4, 6), [torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)])
    torch.testing.assert_close(alike[:4], alike[4:], rtol=0, atol=0)
    with pytest.raises(ValueError, match='batch of 7 does not split into 2 equal trajectories'):
        run((7, 4, 6), [torch.Generator(), torch.Generator()])
