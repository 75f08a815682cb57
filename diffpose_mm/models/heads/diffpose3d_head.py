"""DiffPose-3D lifting head (Gong et al., *DiffPose: Toward More Reliable 3D Pose Estimation*, CVPR 2023)."""
from typing import List, Optional, Union

import numpy as np
import torch
from mmpose.models.heads.base_head import BaseHead
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, OptSampleList, Predictions
from torch import Tensor

from ..backbones.context_encoder import LiftingContext
from ..diffusion.gmm_prior import STATE_CHANNELS, flip_gmm
from ..diffusion.sampling_cfg import parse_sampling_cfg, resolve_seed, seeded_generator
from .pose_graph_denoiser import PoseGraphDenoiser  # noqa: F401  (registers the default denoiser)

DEFAULT_LOSS_WEIGHTS = dict(pose=1.0, uv=0.1, init=1.0, init_nll=0.1)


@MODELS.register_module()
class DiffPose3DHead(BaseHead):
    """3D pose as the end of a reverse diffusion that starts from a pose-specific prior.

    The state of every joint is ``h = (u, v, x, y, z)``: its 2D position (codec units) and its root-relative 3D
    position (metres). The forward process diffuses the clean state ``h_0`` (the 2D input and the ground-truth
    3D pose) towards the prior ``N(μ, s²)`` of :class:`KeypointGMMPrior` (2D kernel of the joint's mixture,
    3D pose of the context encoder), with ``GaussianDiffusion``'s schedule; the denoiser
    (:class:`PoseGraphDenoiser`) predicts ``h_0 = b + pose_scale · Δ``, a correction of ``b`` (the 2D input and
    the encoder's initial pose), from the noisy state, the step and the condition ``[b, μ, log s, f_ST]``
    (``f_ST``: per-joint context of :class:`DiffPoseContextEncoder`, zeros with ``use_context=False``; ``μ`` and
    ``log s`` zeros with the standard prior). At test time ``N`` hypotheses start from ``N`` draws of the prior,
    are denoised with DDIM in one batched forward per step, and their 3D parts are averaged.

    The state is mapped to ``GaussianDiffusion``'s data range by ``(h / pose_scale + 1) / 2``, so its signal is
    ``h / pose_scale · signal_scale`` and sampled ``x0`` are clamped to ``|h| <= pose_scale``.

    Args:
        num_keypoints (int): ``K``. Defaults to 17.
        context_channels (int): Channels of the encoder's per-joint context. Defaults to 64.
        use_context (bool): Condition the denoiser on the context (``False``: the ablation without).
            Defaults to True.
        pose_scale (float): State units per signal unit (see above). Defaults to 2.0.
        num_train_draws (int): ``(t, noise, kernel)`` draws per sample per iteration. Defaults to 1.
        denoiser (dict): :class:`PoseGraphDenoiser` settings (``num_keypoints``, ``state_channels`` and
            ``cond_channels`` are set here).
        prior (dict): :class:`KeypointGMMPrior` settings (``mode='gmm'`` or ``'gaussian'``).
        diffusion (dict): :class:`GaussianDiffusion` settings (schedule: ``num_timesteps``, ``cosine_s``,
            ``signal_scale``, ``input_mode``, ``last_step_prob``).
        loss_weights (dict): Weights of ``pose`` (MPJPE of the denoised 3D pose), ``uv`` (L1 of its 2D part),
            ``init`` (MPJPE of the encoder's initial pose) and ``init_nll`` (Gaussian NLL of its error scale).
        decoder (dict, optional): The lifting codec (``VideoPoseLifting``), used to add the root back.
        init_cfg (dict, optional): Initialisation config.

    Test-time settings (``test_cfg``, read by :func:`parse_sampling_cfg`): ``num_noise_groups`` (N hypotheses),
    ``sampling_steps``, ``eta``, ``seed``; MMPose's ``flip_test``; ``output_hypotheses`` (add every hypothesis
    as ``pred_instances.keypoint_hypotheses (1, N, K, 3)``); ``init_pose_only`` (predict the context encoder's
    initial pose, no diffusion: what the reverse diffusion adds).
    """

    def __init__(self, num_keypoints: int = 17, context_channels: int = 64, use_context: bool = True,
                 pose_scale: float = 2.0, num_train_draws: int = 1,
                 denoiser: ConfigType = dict(type='PoseGraphDenoiser'),
                 prior: ConfigType = dict(type='KeypointGMMPrior'), diffusion: OptConfigType = None,
                 loss_weights: Optional[dict] = None, decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg)
        if pose_scale <= 0:
            raise ValueError(f'DiffPose3DHead: pose_scale must be > 0, got {pose_scale}')
        if not isinstance(num_train_draws, int) or num_train_draws < 1:
            raise ValueError(f'DiffPose3DHead: num_train_draws must be a positive integer, got {num_train_draws!r}')
        unknown = set(loss_weights or {}) - set(DEFAULT_LOSS_WEIGHTS)
        if unknown:
            raise ValueError(f'DiffPose3DHead: unknown loss_weights {sorted(unknown)}; known: '
                             f'{sorted(DEFAULT_LOSS_WEIGHTS)}')
        self.num_keypoints = num_keypoints
        self.context_channels = context_channels
        self.use_context = use_context
        self.pose_scale = float(pose_scale)
        self.num_train_draws = num_train_draws
        self.loss_weights = dict(DEFAULT_LOSS_WEIGHTS, **(loss_weights or {}))
        self.decoder = KEYPOINT_CODECS.build(decoder) if decoder is not None else None
        self.diffusion = MODELS.build(
            dict(
                dict(type='GaussianDiffusion', num_timesteps=50, signal_scale=1.0, input_mode='clamp'),
                **(diffusion or {})))
        self.prior = MODELS.build(prior)
        self.denoiser = MODELS.build(
            dict(denoiser, num_keypoints=num_keypoints, state_channels=STATE_CHANNELS,
                 cond_channels=3 * STATE_CHANNELS + context_channels))
        self.test_cfg: dict = {}  # replaced by the pose estimator's test_cfg

    # ------------------------------------------------------------------ state <-> diffusion units
    def _to_data(self, state: Tensor) -> Tensor:
        return (state / self.pose_scale + 1) / 2

    def _from_data(self, x0: Tensor) -> Tensor:
        return (x0 * 2 - 1) * self.pose_scale

    def _to_signal(self, state: Optional[Tensor]) -> Optional[Tensor]:
        """State-unit means/scales in the diffusion's signal space."""
        return None if state is None else state * (self.diffusion.signal_scale / self.pose_scale)

    # ------------------------------------------------------------------ network
    def _check_context(self, feats) -> LiftingContext:
        if not isinstance(feats, LiftingContext):
            raise TypeError(f'DiffPose3DHead needs the LiftingContext of DiffPoseContextEncoder as its features, got '
                            f'{type(feats).__name__}; use backbone=dict(type="DiffPoseContextEncoder", ...)')
        if feats.context.shape[1:] != (self.num_keypoints, self.context_channels):
            raise ValueError(f'DiffPose3DHead: context is {tuple(feats.context.shape)}, expected (B, '
                             f'{self.num_keypoints}, {self.context_channels}); match head.context_channels and '
                             'num_keypoints with the backbone')
        return feats

    def denoise(self, x_t: Tensor, t: Tensor, base: Tensor, mean: Optional[Tensor], scale: Optional[Tensor],
                context: Tensor) -> Tensor:
        """Predicted clean state ``base + pose_scale · Δ`` ``(B, K, 5)`` (state units).

        Args:
            x_t (Tensor): ``(B, K, 5)`` network input of the noisy state (``GaussianDiffusion.network_input``).
            t (Tensor): ``(B,)`` steps.
            base (Tensor): ``(B, K, 5)`` the 2D input and the encoder's initial pose: the denoiser predicts a
                correction of it, whatever the prior (so the Gaussian prior is not handicapped).
            mean, scale (Tensor, optional): ``(B, K, 5)`` the prior (None: the standard prior).
            context (Tensor): ``(B, K, C)`` per-joint context.

        The denoiser sees the noisy state as its offset from ``base`` in units of the prior's scale (``s``, or the
        standard prior's ``pose_scale / signal_scale``): the offsets that matter (centimetres) are then of order
        one instead of a few hundredths of the ``[0, 1]`` network input.
        """
        zeros = torch.zeros_like(base)
        mean_in = zeros if mean is None else mean / self.pose_scale
        log_scale = zeros if scale is None else (scale / self.pose_scale).log()
        noise_scale = self.pose_scale / self.diffusion.signal_scale if scale is None else scale
        offset = (self._from_data(x_t) - base) / noise_scale
        if not self.use_context:
            context = torch.zeros_like(context)
        cond = torch.cat([base / self.pose_scale, mean_in, log_scale, context], -1)
        return base + self.pose_scale * self.denoiser(offset, t, cond)

    def sample_hypotheses(self, ctx: LiftingContext, gmm: Optional[Tensor], num_hypotheses: int, steps: int, eta: float,
                          generator: Optional[torch.Generator] = None) -> Tensor:
        """Denoise ``N`` draws of the prior per sample (one batched forward per DDIM step).

        Returns:
            Tensor: ``(B, N, K, 3)`` root-relative 3D poses of the hypotheses.
        """
        B, K, N = ctx.keypoints.shape[0], self.num_keypoints, num_hypotheses
        mean, scale = self.prior(ctx.keypoints, ctx.init_pose, ctx.init_log_sigma, gmm, N, generator)
        if mean is not None:
            mean, scale = mean.flatten(0, 1), scale.flatten(0, 1)  # (B*N, K, 5): hypotheses of a sample adjacent
        context = ctx.context.repeat_interleave(N, dim=0)
        base = _base_state(ctx).repeat_interleave(N, dim=0)

        def denoise_fn(x_in: Tensor, t: Tensor, x_prev: Optional[Tensor]) -> Tensor:
            return self._to_data(self.denoise(x_in, t, base, mean, scale, context))

        x0 = self.diffusion.sample(denoise_fn, (B * N, K, STATE_CHANNELS), steps, eta=eta, generator=generator,
                                   device=ctx.keypoints.device, prior_mean=self._to_signal(mean),
                                   prior_scale=self._to_signal(scale))
        return self._from_data(x0).reshape(B, N, K, STATE_CHANNELS)[..., 2:]

    def forward(self, feats: LiftingContext) -> Tensor:
        """Mean of the hypotheses ``(B, K, 3)`` with the settings in ``self.test_cfg`` (no mixtures: the
        prior's single-kernel fallback)."""
        ctx = self._check_context(feats)
        cfg = parse_sampling_cfg(self.test_cfg, owner='DiffPose3DHead')
        generator = seeded_generator(ctx.keypoints.device, resolve_seed(cfg['seed']))
        return self.sample_hypotheses(ctx, None, cfg['num_noise_groups'], cfg['sampling_steps'], cfg['eta'],
                                      generator).mean(1)

    # ------------------------------------------------------------------ MMPose API
    @staticmethod
    def _gmm(batch_data_samples: OptSampleList, device: torch.device) -> Optional[Tensor]:
        """``(B, K, M, 5)`` mixtures from ``metainfo['keypoint_gmm']`` (``LoadKeypointGMM``), or None."""
        if not batch_data_samples or 'keypoint_gmm' not in batch_data_samples[0].metainfo:
            return None
        return torch.stack([
            torch.as_tensor(np.asarray(d.metainfo['keypoint_gmm']), dtype=torch.float32) for d in batch_data_samples
        ]).to(device)

    def predict(self, feats: Union[LiftingContext, List[LiftingContext]], batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Sample ``N`` hypotheses per sample, average them (and the flipped pass), decode with the root.

        Returns:
            ``InstanceData`` per sample with ``keypoints (1, K, 3)`` (camera coordinates, root added back by the
            codec), ``keypoint_scores (1, K)`` (ones), ``keypoint_spread (1, K)``: the root-mean-square distance
            (m) of the ``N`` hypotheses from their mean (zero when ``N = 1``), and with ``output_hypotheses``
            ``keypoint_hypotheses (1, N, K, 3)``.
        """
        cfg = parse_sampling_cfg(test_cfg, owner='DiffPose3DHead')
        flip_test = test_cfg.get('flip_test', False)
        if flip_test:
            if not (isinstance(feats, list) and len(feats) == 2):
                raise TypeError('DiffPose3DHead: flip test expects [features, flipped features] from PoseLifter')
            ctx, ctx_flip = (self._check_context(f) for f in feats)
        else:
            ctx = self._check_context(feats)
        device = ctx.keypoints.device
        gmm = self._gmm(batch_data_samples, device)
        seed = resolve_seed(cfg['seed'])  # both passes draw the same noise and kernels

        def sample(c: LiftingContext, g: Optional[Tensor]) -> Tensor:
            if test_cfg.get('init_pose_only', False):
                return c.init_pose[:, None]
            return self.sample_hypotheses(c, g, cfg['num_noise_groups'], cfg['sampling_steps'], cfg['eta'],
                                          seeded_generator(device, seed))

        hyps = sample(ctx, gmm)  # (B, N, K, 3)
        if flip_test:
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            hyps_flip = sample(ctx_flip, None if gmm is None else flip_gmm(gmm, flip_indices))
            hyps_flip = hyps_flip[:, :, list(flip_indices)] * hyps.new_tensor([-1., 1., 1.])  # mirror back
            hyps = (hyps + hyps_flip) / 2

        coords = hyps.mean(1)
        # the root back in camera coordinates, as MMPose's TemporalRegressionHead decodes
        if batch_data_samples and 'target_root' in batch_data_samples[0].metainfo:
            target_root = torch.stack([
                torch.as_tensor(np.asarray(d.metainfo['target_root']), dtype=torch.float32) for d in batch_data_samples
            ])
        else:
            target_root = torch.stack([torch.empty(0) for _ in range(coords.shape[0])])
        preds = self.decode((coords.detach().cpu(), target_root))
        spread = (hyps - coords[:, None]).norm(dim=-1).pow(2).mean(1).sqrt()  # (B, K)
        for b, pred in enumerate(preds):
            pred.keypoint_spread = spread[b:b + 1].detach().cpu().numpy().astype(np.float32)
            if test_cfg.get('output_hypotheses', False):
                offset = pred.keypoints.reshape(-1, 3) - coords[b].detach().cpu().numpy()  # the root (0 without)
                pred.keypoint_hypotheses = (hyps[b].detach().cpu().numpy() + offset)[None].astype(np.float32)
        return preds

    def loss(self, feats: LiftingContext, batch_data_samples: OptSampleList, train_cfg: ConfigType = {}) -> dict:
        """Diffuse ``h_0`` towards the prior at a random step and regress it back; train the initial pose.

        Losses: ``loss_pose`` (MPJPE, m, of the denoised 3D pose), ``loss_uv`` (L1 of its 2D part),
        ``loss_init`` (MPJPE of the encoder's pose), ``loss_init_nll`` (Gaussian NLL of its error scale, pose
        detached); logged: ``mpjpe_init`` (m).
        """
        ctx = self._check_context(feats)
        gt = torch.cat([d.gt_instance_labels.lifting_target_label for d in batch_data_samples]).to(ctx.init_pose)
        weight = torch.cat([d.gt_instance_labels.lifting_target_weight for d in batch_data_samples]).to(gt)
        gt, weight = gt.reshape(-1, self.num_keypoints, 3), weight.reshape(-1, self.num_keypoints)
        if gt.shape[0] != ctx.init_pose.shape[0]:
            raise ValueError(f'DiffPose3DHead: {gt.shape[0]} lifting targets for {ctx.init_pose.shape[0]} samples; '
                             'one target frame per sample is supported (no multiple_target)')
        D = self.num_train_draws
        mean, scale = self.prior(ctx.keypoints, ctx.init_pose, ctx.init_log_sigma,
                                 self._gmm(batch_data_samples, gt.device), D)
        if mean is not None:
            mean, scale = mean.flatten(0, 1), scale.flatten(0, 1)  # (B*D, K, 5)
        rep = lambda x: x.repeat_interleave(D, dim=0)  # noqa: E731
        x0 = torch.cat([rep(ctx.keypoints.detach()), rep(gt)], -1)
        t = self.diffusion.sample_timesteps(x0.shape[0], x0.device)
        x_t = self.diffusion.q_sample(
            self._to_data(x0), t, prior_mean=self._to_signal(mean), prior_scale=self._to_signal(scale))
        pred = self.denoise(x_t, t, rep(_base_state(ctx)), mean, scale, rep(ctx.context))

        w = rep(weight)
        sigma = ctx.init_log_sigma.exp()
        nll = 0.5 * ((gt - ctx.init_pose.detach()) / sigma)**2 + ctx.init_log_sigma
        lw = self.loss_weights
        losses = dict(
            loss_pose=lw['pose'] * _mpjpe(pred[..., 2:], rep(gt), w),
            loss_uv=lw['uv'] * ((pred[..., :2] - x0[..., :2]).abs().mean(-1) * w).sum() / w.sum().clamp(min=1),
            loss_init=lw['init'] * _mpjpe(ctx.init_pose, gt, weight),
            loss_init_nll=lw['init_nll'] * (nll.mean(-1) * weight).sum() / weight.sum().clamp(min=1))
        losses['mpjpe_init'] = _mpjpe(ctx.init_pose, gt, weight).detach()
        return losses


def _base_state(ctx: LiftingContext) -> Tensor:
    """``(B, K, 5)``: the 2D input and the encoder's initial 3D pose (no gradient into the encoder from here)."""
    return torch.cat([ctx.keypoints, ctx.init_pose], -1).detach()


def _mpjpe(pred: Tensor, gt: Tensor, weight: Tensor) -> Tensor:
    """Weighted mean joint position error: ``pred``/``gt`` ``(B, K, 3)``, ``weight (B, K)``."""
    return ((pred - gt).norm(dim=-1) * weight).sum() / weight.sum().clamp(min=1)
