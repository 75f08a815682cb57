"""Gaussian diffusion with x0-prediction and DDIM sampling (DiffusionDet conventions).

The module knows nothing about heatmaps or poses: it holds the noise schedule and the sampler, and works on any
tensor whose values live in ``[0, 1]`` (heatmaps here, normalised 3D poses in a lifting head). The network that
denoises is passed in as a function, so the same sampler serves every head.

Conventions, following DiffusionDet (Chen et al., 2023), on which the DiffPose authors built their code:

- cosine beta schedule (Nichol & Dhariwal, 2021) with ``T`` steps, ``t`` indexed ``0 .. T-1``;
- *signal space*: data ``x0`` in ``[0, 1]`` is mapped to ``(2 * x0 - 1) * signal_scale`` before noise is
  added; the network predicts data-range ``x0``;
- network input (``input_mode``): ``'clamp'`` (DiffusionDet) clamps noisy samples to ``±signal_scale`` and maps
  them back to ``[0, 1]``; ``'normalize'`` divides them by their expected standard deviation
  ``sqrt(ᾱ_t s² + 1 - ᾱ_t)`` instead (a clamp is needed by RoIAlign on boxes, not by heatmaps, and at small
  scales it turns pure noise into a nearly binary image);
- training steps: uniform ``t`` (Algorithm 1), optionally with a share ``last_step_prob`` of draws at ``T-1``,
  the pure-noise input that the first sampling step sees;
- self-conditioning (Chen et al., 2023, *Analog Bits*): the sampler hands each denoising call the previous
  step's ``x0`` prediction (``None`` at the first step); a denoiser may ignore it;
- DDIM time pairs from ``linspace(-1, T - 1, steps + 1)`` reversed, e.g. ``999→749→499→249→-1`` for 4 steps;
  the last pair ends at ``-1``, where the sample *is* the predicted ``x0``;
- prior: the forward process ends in ``N(0, I)`` unless a *prior* is given (DiffPose-3D's GMM-based forward
  process, Gong et al., CVPR 2023): with a mean ``μ`` and a per-element scale ``s`` (signal space, broadcast
  against the sample), ``q(x_t | x_0) = N(sqrt(ᾱ_t) x_0 + (1 - sqrt(ᾱ_t)) μ, (1 - ᾱ_t) s²)``, so ``x_{T-1}``
  is (almost) a draw from ``N(μ, s²)``. It is the standard process on ``y = (x - μ) / s``: every method maps to
  ``y``, runs the standard formula and maps back. Without a prior every result is bit-identical to the
  standard process.
"""
import math
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

DenoiseFn = Callable[[Tensor, Tensor, Optional[Tensor]], Tensor]
# one generator, or one per equal chunk of the batch (see :func:`_randn`)
Generators = Union[None, torch.Generator, Sequence[torch.Generator]]
INPUT_MODES = ('clamp', 'normalize')


def cosine_alphas_cumprod(num_timesteps: int, s: float = 0.008) -> Tensor:
    """Closed-form ``ᾱ`` of the cosine schedule, ``f(t) / f(0)`` with ``f(t) = cos²((t/T + s)/(1 + s) · π/2)``.

    Returns:
        Tensor: float64 ``(T + 1,)``, entry ``i`` is ``ᾱ`` after ``i`` noising steps (entry 0 is 1).
    """
    x = torch.linspace(0, num_timesteps, num_timesteps + 1, dtype=torch.float64)
    f = torch.cos((x / num_timesteps + s) / (1 + s) * math.pi * 0.5)**2
    return f / f[0]


@MODELS.register_module()
class GaussianDiffusion(nn.Module):
    """Noise schedule, forward process and DDIM sampler for x0-predicting diffusion models.

    Args:
        num_timesteps (int): Number of diffusion steps ``T``. Defaults to 1000.
        cosine_s (float): Offset ``s`` of the cosine schedule. Defaults to 0.008.
        signal_scale (float): Signal-to-noise scale of DiffusionDet: data ``x0`` in ``[0, 1]`` becomes
            ``(2 * x0 - 1) * signal_scale``. Larger values make the data harder to destroy. Defaults to 2.0.
        input_mode (str): How a noisy sample becomes network input: ``'clamp'`` (clamp to ``±scale``, map to
            ``[0, 1]``, DiffusionDet) or ``'normalize'`` (divide by its expected std). Defaults to ``'clamp'``.
        last_step_prob (float): Share of training draws with ``t = T-1`` (pure noise); the rest are uniform.
            0 is Algorithm 1. Defaults to 0.

    Buffers (all ``(T,)`` float32, indexed by ``t = 0 .. T-1``): ``betas``, ``alphas_cumprod``,
    ``sqrt_alphas_cumprod``, ``sqrt_one_minus_alphas_cumprod``, ``sqrt_recip_alphas_cumprod``,
    ``sqrt_recipm1_alphas_cumprod``.
    """

    def __init__(self, num_timesteps: int = 1000, cosine_s: float = 0.008, signal_scale: float = 2.0,
                 input_mode: str = 'clamp', last_step_prob: float = 0.) -> None:
        super().__init__()
        if num_timesteps < 1:
            raise ValueError(f'GaussianDiffusion: num_timesteps must be >= 1, got {num_timesteps}')
        if signal_scale <= 0:
            raise ValueError(f'GaussianDiffusion: signal_scale must be > 0, got {signal_scale}')
        if input_mode not in INPUT_MODES:
            raise ValueError(f'GaussianDiffusion: input_mode must be one of {INPUT_MODES}, got {input_mode!r}')
        if not 0 <= last_step_prob <= 1:
            raise ValueError(f'GaussianDiffusion: last_step_prob must be in [0, 1], got {last_step_prob}')
        self.num_timesteps = int(num_timesteps)
        self.signal_scale = float(signal_scale)
        self.input_mode = input_mode
        self.last_step_prob = float(last_step_prob)

        # Betas from the closed form, clipped like DDPM/DiffusionDet so the last steps stay finite.
        abar = cosine_alphas_cumprod(num_timesteps, cosine_s)
        betas = torch.clip(1 - abar[1:] / abar[:-1], 0, 0.999)
        alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        # Schedules are computed in float64 and stored in float32 (buffers follow .to(device)).
        for name, value in dict(betas=betas, alphas_cumprod=alphas_cumprod, sqrt_alphas_cumprod=alphas_cumprod.sqrt(),
                                sqrt_one_minus_alphas_cumprod=(1 - alphas_cumprod).sqrt(),
                                sqrt_recip_alphas_cumprod=(1 / alphas_cumprod).sqrt(),
                                sqrt_recipm1_alphas_cumprod=(1 / alphas_cumprod - 1).sqrt()).items():
            self.register_buffer(name, value.float(), persistent=False)

    # ------------------------------------------------------------------ data <-> signal space
    def to_signal(self, x0: Tensor) -> Tensor:
        """Map data in ``[0, 1]`` to signal space ``[-scale, scale]``."""
        return (x0 * 2 - 1) * self.signal_scale

    def to_data(self, x: Tensor) -> Tensor:
        """Clamp a signal-space tensor to ``±scale`` and map it back to ``[0, 1]``."""
        x = x.clamp(-self.signal_scale, self.signal_scale)
        return (x / self.signal_scale + 1) / 2

    def network_input(self, x_t: Tensor, t: Tensor) -> Tensor:
        """What the denoiser sees of a signal-space sample ``x_t (B, ...)`` at steps ``t (B,)`` (``input_mode``)."""
        if self.input_mode == 'clamp':
            return self.to_data(x_t)
        abar = _extract(self.alphas_cumprod, t, x_t)
        return x_t / (abar * self.signal_scale**2 + 1 - abar).sqrt()

    # ------------------------------------------------------------------ training
    def sample_timesteps(self, batch_size: int, device: torch.device,
                         generator: Optional[torch.Generator] = None) -> Tensor:
        """Draw ``t ~ Uniform{0, ..., T-1}`` (Algorithm 1, line 4), replaced by ``T-1`` with probability
        ``last_step_prob``. Returns ``(B,)`` long."""
        t = torch.randint(0, self.num_timesteps, (batch_size, ), device=device, generator=generator)
        if self.last_step_prob > 0:
            last = torch.rand(batch_size, device=device, generator=generator) < self.last_step_prob
            t = torch.where(last, torch.full_like(t, self.num_timesteps - 1), t)
        return t

    def add_noise(self, x_start: Tensor, t: Tensor, noise: Tensor, prior_mean: Optional[Tensor] = None,
                  prior_scale: Optional[Tensor] = None) -> Tensor:
        """Eq. 1 in signal space: ``x_t = sqrt(ᾱ_t) x_start + sqrt(1 - ᾱ_t) ε``; with a prior
        ``x_t = sqrt(ᾱ_t) x_start + (1 - sqrt(ᾱ_t)) μ + sqrt(1 - ᾱ_t) s ε``.

        Args:
            x_start (Tensor): ``(B, ...)`` signal-space data.
            t (Tensor): ``(B,)`` long timesteps.
            noise (Tensor): ``(B, ...)`` standard normal noise.
            prior_mean (Tensor, optional): ``μ``, broadcastable to ``(B, ...)``, signal space. Defaults to 0.
            prior_scale (Tensor, optional): ``s > 0``, broadcastable to ``(B, ...)``. Defaults to 1.
        """
        if prior_mean is None and prior_scale is None:
            return (_extract(self.sqrt_alphas_cumprod, t, x_start) * x_start +
                    _extract(self.sqrt_one_minus_alphas_cumprod, t, x_start) * noise)
        y_start = _whiten(x_start, prior_mean, prior_scale)
        return _unwhiten(self.add_noise(y_start, t, noise), prior_mean, prior_scale)

    def q_sample(self, x0: Tensor, t: Tensor, noise: Optional[Tensor] = None, generator: Generators = None,
                 prior_mean: Optional[Tensor] = None, prior_scale: Optional[Tensor] = None) -> Tensor:
        """Noisy network input for training: scale to signal space, diffuse, then :meth:`network_input`.

        Args:
            x0 (Tensor): ``(B, ...)`` clean data in ``[0, 1]`` (e.g. GT heatmaps).
            t (Tensor): ``(B,)`` long timesteps.
            noise (Tensor, optional): ``(B, ...)`` noise; drawn from ``generator`` when omitted.
            prior_mean, prior_scale (Tensor, optional): The prior (signal space), see :meth:`add_noise`.

        Returns:
            Tensor: ``(B, ...)`` noisy sample ``x_t`` as the denoiser sees it.
        """
        if noise is None:
            noise = _randn(x0.shape, x0.device, x0.dtype, generator)
        return self.network_input(self.add_noise(self.to_signal(x0), t, noise, prior_mean, prior_scale), t)

    # ------------------------------------------------------------------ sampling
    def predict_noise_from_start(self, x_t: Tensor, t: Tensor, x_start: Tensor, prior_mean: Optional[Tensor] = None,
                                 prior_scale: Optional[Tensor] = None) -> Tensor:
        """Noise implied by ``x_t`` and a predicted ``x_start`` (both signal space):
        ``ε = (sqrt(1/ᾱ_t) x_t - x_start) / sqrt(1/ᾱ_t - 1)``, on ``(x - μ) / s`` with a prior."""
        if prior_mean is not None or prior_scale is not None:
            return self.predict_noise_from_start(
                _whiten(x_t, prior_mean, prior_scale), t, _whiten(x_start, prior_mean, prior_scale))
        return ((_extract(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t - x_start) /
                _extract(self.sqrt_recipm1_alphas_cumprod, t, x_t))

    def ddim_time_pairs(self, steps: int) -> List[Tuple[int, int]]:
        """``(t_now, t_next)`` pairs of a ``steps``-step DDIM run, e.g. ``[(999, -1)]`` for one step."""
        if not 1 <= steps <= self.num_timesteps:
            raise ValueError(f'GaussianDiffusion: sampling_steps must be in [1, {self.num_timesteps}], '
                             f'got {steps}')
        times = torch.linspace(-1, self.num_timesteps - 1, steps + 1).int().tolist()
        times = list(reversed(times))
        return list(zip(times[:-1], times[1:]))

    def ddim_step(self, x_t: Tensor, x_start: Tensor, t: int, t_next: int, eta: float = 1.0,
                  generator: Generators = None, prior_mean: Optional[Tensor] = None,
                  prior_scale: Optional[Tensor] = None) -> Tensor:
        """One DDIM update in signal space (Song et al., 2021; DiffusionDet's ``ddim_sample`` loop body).

        Args:
            x_t (Tensor): ``(B, ...)`` current sample.
            x_start (Tensor): ``(B, ...)`` predicted clean signal.
            t (int): Current timestep.
            t_next (int): Next timestep; ``-1`` returns ``x_start``.
            eta (float): 0 is deterministic DDIM, 1 matches the DDPM posterior variance.
            generator (torch.Generator | Sequence, optional): Source of the fresh noise when ``eta > 0`` (one
                per equal chunk of the batch when a sequence).
            prior_mean, prior_scale (Tensor, optional): The prior (signal space), see :meth:`add_noise`.

        Returns:
            Tensor: ``(B, ...)`` sample at ``t_next``.
        """
        if t_next < 0:
            return x_start
        if prior_mean is not None or prior_scale is not None:
            y_next = self.ddim_step(
                _whiten(x_t, prior_mean, prior_scale), _whiten(x_start, prior_mean, prior_scale), t, t_next, eta,
                generator)
            return _unwhiten(y_next, prior_mean, prior_scale)
        t_vec = torch.full((x_t.shape[0], ), t, device=x_t.device, dtype=torch.long)
        pred_noise = self.predict_noise_from_start(x_t, t_vec, x_start)
        alpha, alpha_next = self.alphas_cumprod[t], self.alphas_cumprod[t_next]
        sigma = eta * ((1 - alpha / alpha_next) * (1 - alpha_next) / (1 - alpha)).sqrt()
        c = (1 - alpha_next - sigma**2).clamp(min=0).sqrt()
        x_next = x_start * alpha_next.sqrt() + c * pred_noise
        if eta > 0:
            x_next = x_next + sigma * _randn(x_t.shape, x_t.device, x_t.dtype, generator)
        return x_next

    @torch.no_grad()
    def sample(self, denoise_fn: DenoiseFn, shape: Sequence[int], steps: int, eta: float = 1.0,
               generator: Generators = None, device: Optional[torch.device] = None, prior_mean: Optional[Tensor] = None,
               prior_scale: Optional[Tensor] = None) -> Tensor:
        """DDIM sampling loop (Algorithm 2), from ``x_{T-1} ~ N(0, I)`` or, with a prior, ``N(μ, s²)``.

        Args:
            denoise_fn (Callable): ``f(x_t, t, x0_prev) -> x0``: ``x_t`` is a ``shape`` network input
                (:meth:`network_input`), ``t`` a ``(B,)`` long tensor and ``x0_prev`` the previous step's
                prediction (``None`` at the first step); it returns the predicted clean data in data range.
            shape (Sequence[int]): ``(B, ...)`` shape of the sample.
            steps (int): Number of DDIM steps (network evaluations).
            eta (float): DDIM stochasticity. Defaults to 1.0 (DiffusionDet).
            generator (torch.Generator | Sequence, optional): Makes the run repeatable; must live on ``device``.
                A sequence of ``G`` generators runs ``G`` independent trajectories in one batch: chunk ``g`` of
                dim 0 (``B / G`` samples) gets exactly the noise of a separate run with generator ``g``.
            device (torch.device, optional): Defaults to the device of the schedule buffers.
            prior_mean, prior_scale (Tensor, optional): The prior (signal space, broadcastable to ``shape``), see
                :meth:`add_noise`.

        Returns:
            Tensor: ``shape`` prediction of ``x0`` from the last step, in data range (not clamped).
        """
        device = self.alphas_cumprod.device if device is None else device
        x = _randn(shape, device, torch.get_default_dtype(), generator)
        if prior_mean is not None or prior_scale is not None:
            x = _unwhiten(x, prior_mean, prior_scale)
        x0 = None
        for t, t_next in self.ddim_time_pairs(steps):
            t_vec = torch.full((x.shape[0], ), t, device=device, dtype=torch.long)
            x0 = denoise_fn(self.network_input(x, t_vec), t_vec, x0)
            # The update uses the clamped signal-space x0 but the raw x_t, as in DiffusionDet.
            x_start = self.to_signal(x0).clamp(-self.signal_scale, self.signal_scale)
            x = self.ddim_step(x, x_start, t, t_next, eta, generator, prior_mean, prior_scale)
        return x0


def _extract(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """Gather ``values[t]`` and reshape to ``(B, 1, ..., 1)`` to broadcast against ``like``."""
    return values[t].to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def _whiten(x: Tensor, mean: Optional[Tensor], scale: Optional[Tensor]) -> Tensor:
    """``(x - μ) / s``: a prior's process as the standard one (``μ = 0``, ``s = 1`` when omitted)."""
    if mean is not None:
        x = x - mean
    return x if scale is None else x / scale


def _unwhiten(y: Tensor, mean: Optional[Tensor], scale: Optional[Tensor]) -> Tensor:
    """``μ + s y``, the inverse of :func:`_whiten`."""
    if scale is not None:
        y = y * scale
    return y if mean is None else y + mean


def _randn(shape: Sequence[int], device: torch.device, dtype: torch.dtype, generator: Generators) -> Tensor:
    """Standard normal noise of ``shape``; with a sequence of generators, dim 0 splits into equal chunks, each
    drawn from its own generator (independent trajectories in one batch, each as if sampled alone)."""
    if not isinstance(generator, (list, tuple)):
        return torch.randn(tuple(shape), device=device, dtype=dtype, generator=generator)
    if shape[0] % len(generator):
        raise ValueError(f'GaussianDiffusion: a batch of {shape[0]} does not split into {len(generator)} equal '
                         'trajectories, one per generator')
    chunk = (shape[0] // len(generator), ) + tuple(shape[1:])
    return torch.cat([torch.randn(chunk, device=device, dtype=dtype, generator=g) for g in generator])
