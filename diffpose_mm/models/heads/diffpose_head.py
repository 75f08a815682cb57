"""DiffPose Pose-Decoder with Lookup-based MultiScale Feature Interaction (Feng et al., ICCV 2023, §3.3-3.5)."""
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmcv.cnn import ConvModule, build_upsample_layer
from mmengine.structures import PixelData
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.transformer import nchw_to_nlc
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import ConfigType, Features, OptConfigType, OptSampleList, Predictions
from torch import Tensor, nn
from torch.nn import functional as F

from ..diffusion.sampling_cfg import parse_sampling_cfg, resolve_seed, seeded_generator
from ..diffusion.time_embedding import TimestepEmbedding
from ..utils import build_transformer_encoder, sine_pos_embed_2d


def _lookup_mask(refined: Tensor) -> Tensor:
    """Sq + Sigmoid of Eq. 4/5: channel-wise max squeezed into a one-channel keypoint-field mask ``(B, 1, h, w)``."""
    return refined.max(dim=1, keepdim=True).values.sigmoid()


def _grouped(x: Tensor, num_persons: int) -> Tensor:
    """``x (B*G, ...)`` -> ``(B, G, ...)`` (a view), to combine with per-person terms ``(B, 1, ...)`` that broadcast
    over the ``G`` contiguous groups of every person (index ``b * G + g``) without being copied ``G`` times."""
    return x.view(num_persons, -1, *x.shape[1:])


class DenoisingCondition(NamedTuple):
    """The feature side of :meth:`DiffPoseHead.denoise` for ``B`` persons (see :meth:`DiffPoseHead.condition`).

    Attributes:
        pyramid (list[Tensor]): ``[F¹ (B,c1,h,w), F² (B,c2,2h,2w), F³ (B,c3,4h,4w)]``.
        terms (list[tuple]): per interaction, its ``condition(F^j)`` (the feature terms of its fusion).
    """
    pyramid: List[Tensor]
    terms: List[tuple]


INTERACTIONS = ('lookup', 'concat')
SCALE_FUSIONS = ('sum', 'concat')
STEP_CONDITIONS = ('input', 'all')


class _LowResInteraction(nn.Module):
    """Low-resolution LMSFI branch (Eq. 4) with Transformers.

    ``x̿ = SeRef(x̄¹)`` (heatmap tokens refined by a Transformer), ``A = σ(max_c x̿)``, then
    ``Trans(A ⊙ F¹ ⊕ F¹)``. With ``interaction='concat'`` (the paper's *Direct* baselines, Table 4) the refined
    heatmap tokens are concatenated with the feature tokens instead: ``Trans(x̿ ⊕ F¹)``.

    The fusion ``Linear(A ⊙ F ⊕ F) + pos`` is split as ``A ⊙ (F W_aᵀ) + (F W_fᵀ + b + pos)`` (``A`` is one scalar
    per token, so it commutes with the projection): both feature terms are computed once per person by
    :meth:`condition`, and a denoising call only scales and adds them.
    Shapes: ``feat (B, C, h, w)``, ``heatmap (B*G, Ch, h, w)`` (``G`` groups per person) -> ``(B*G, out, h, w)``.
    """

    def __init__(self, feat_channels: int, heatmap_channels: int, out_channels: int, num_heads: int,
                 num_refine_layers: int, num_interact_layers: int, mlp_ratio: float,
                 interaction: str = 'lookup') -> None:
        super().__init__()
        self.interaction = interaction
        self.heatmap_embed = nn.Linear(heatmap_channels, feat_channels)
        self.refine = build_transformer_encoder(feat_channels, num_heads, num_refine_layers, mlp_ratio)
        self.fuse_embed = nn.Linear(2 * feat_channels, feat_channels)
        self.interact = build_transformer_encoder(feat_channels, num_heads, num_interact_layers, mlp_ratio)
        self.out_proj = nn.Linear(feat_channels, out_channels)

    def condition(self, feat: Tensor) -> Tuple[Tensor, Optional[Tensor], Tensor]:
        """Feature-side terms of ``feat (B, C, h, w)``, once per person: the position embedding ``(1, hw, C)``,
        ``F W_aᵀ (B, hw, C)`` (``None`` for ``'concat'``) and ``F W_fᵀ + b + pos (B, hw, C)``."""
        h, w = feat.shape[-2:]
        pos = sine_pos_embed_2d(h, w, feat.shape[1], feat.device, feat.dtype)  # cached: once per size
        tokens = nchw_to_nlc(feat)
        w_first, w_feat = self.fuse_embed.weight.chunk(2, dim=1)  # input = [A ⊙ F (or x̿), F]
        masked = F.linear(tokens, w_first) if self.interaction == 'lookup' else None
        return pos, masked, F.linear(tokens, w_feat, self.fuse_embed.bias) + pos

    def forward(self, condition: Tuple[Tensor, Optional[Tensor], Tensor], heatmap: Tensor) -> Tensor:
        pos, masked, feat_term = condition
        h, w = heatmap.shape[-2:]
        B = feat_term.shape[0]
        hm_tokens = self.refine(self.heatmap_embed(nchw_to_nlc(heatmap)) + pos)  # (B*G, hw, C)
        if self.interaction == 'lookup':
            mask = hm_tokens.max(dim=-1, keepdim=True).values.sigmoid()  # A (B*G, hw, 1)
            first = _grouped(mask, B) * masked.unsqueeze(1)  # A ⊙ (F W_aᵀ)
        else:
            first = _grouped(F.linear(hm_tokens, self.fuse_embed.weight.chunk(2, dim=1)[0]), B)
        tokens = self.interact((first + feat_term.unsqueeze(1)).flatten(0, 1))
        # (B*G, hw, out) -> (B*G, out, h, w) as a channels-last view: no copy, and the upsampling that follows
        # runs its fast channels-last kernel
        return self.out_proj(tokens).unflatten(1, (h, w)).permute(0, 3, 1, 2)


class _HighResInteraction(nn.Module):
    """High-resolution LMSFI branch (Eq. 5) with convolutions: ``Conv(σ(max_c Conv(x̄ʲ)) ⊙ Fʲ ⊕ Fʲ)``.

    The refinement ends in a plain convolution (no ReLU) so the squeezed maximum can be negative and the
    sigmoid mask can switch features off, not only halve them. ``interaction='concat'``: ``Conv(Conv(x̄ʲ) ⊕ Fʲ)``.
    ``norm_cfg`` normalises the noisy-heatmap refinement.

    The first interaction convolution is linear in its concatenated input, so it is computed as
    ``Conv_a(A ⊙ F) + Conv_f(F)`` with the two halves of its kernel: ``Conv_f(F)`` does not depend on the noisy
    heatmap and is computed once per person by :meth:`condition`.
    Shapes: ``feat (B, C, H, W)``, ``heatmap (B*G, Ch, H, W)`` -> ``(B*G, out, H, W)``.
    """

    def __init__(self, feat_channels: int, heatmap_channels: int, out_channels: int, interaction: str = 'lookup',
                 norm_cfg: ConfigType = dict(type='BN')) -> None:
        super().__init__()
        self.interaction = interaction
        self.refine = nn.Sequential(
            ConvModule(heatmap_channels, heatmap_channels, 3, padding=1, norm_cfg=norm_cfg),
            nn.Conv2d(heatmap_channels, heatmap_channels, 3, padding=1))
        in_channels = feat_channels + (feat_channels if interaction == 'lookup' else heatmap_channels)
        self.interact = nn.Sequential(
            ConvModule(in_channels, out_channels, 3, padding=1, norm_cfg=dict(type='BN')),
            ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=dict(type='BN')))

    def _first_conv(self, x: Tensor, weight: Tensor) -> Tensor:
        conv = self.interact[0].conv  # no bias: BN follows
        return F.conv2d(x, weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    def condition(self, feat: Tensor) -> Tuple[Tensor, Tensor]:
        """``feat (B, C, H, W)`` and ``Conv_f(feat) (B, out, H, W)``, once per person."""
        conv = self.interact[0].conv
        weight = conv.weight[:, -feat.shape[1]:]  # input = [A ⊙ F (or refined heatmap), F]
        return feat, F.conv2d(feat, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)

    def forward(self, condition: Tuple[Tensor, Tensor], heatmap: Tensor) -> Tensor:
        feat, feat_term = condition
        B = feat.shape[0]
        refined = self.refine(heatmap)
        if self.interaction == 'lookup':
            first_in = (_grouped(_lookup_mask(refined), B) * feat.unsqueeze(1)).flatten(0, 1)
        else:
            first_in = refined
        first = self.interact[0]  # ConvModule: conv -> BN -> ReLU, the conv split in two halves
        x = self._first_conv(first_in, first.conv.weight[:, :first_in.shape[1]])
        x = (_grouped(x, B) + feat_term.unsqueeze(1)).flatten(0, 1)
        return self.interact[1](first.activate(first.norm(x)))


@MODELS.register_module()
class DiffPoseHead(BaseHead):
    """DiffPose Pose-Decoder: denoises keypoint heatmaps conditioned on a (spatio-temporal) feature map.

    Works as a drop-in replacement of :class:`mmpose.models.HeatmapHead` on any ``(B, C, h, w)`` feature whose
    heatmaps are ``4h x 4w`` (e.g. 64x48 heatmaps for the 16x12 features of a ViT or of a ResNet whose last
    stage is dilated, see ``configs/diffpose/td-diffpose_res50-d16_8xb64-210e_coco-256x192.py``), with or
    without :class:`STRLNeck`.

    Architecture (one denoising call ``f(x_t, F, t) -> x0``):

    1. Step embedding (sinusoidal -> MLP) gives a FiLM scale/shift that rescales the embedded noisy heatmap
       ``x̄ = conv(x_t) * (1 + scale) + shift`` (with ``step_condition='all'`` also each interaction output).
       With ``self_condition`` the previous step's ``x0`` prediction is concatenated with ``x_t`` first.
    2. Size-matched pairs: the feature is deconvolved x1, x2, x4 (``F¹, F², F³`` at ``h, 2h, 4h``); ``x̄`` is
       downsampled by strided convolutions (``x̄³ = x̄``, ``x̄²``, ``x̄¹``). The feature pyramid does not depend on
       ``x_t`` or ``t``, so it is computed once per image and shared by all noise groups and steps.
    3. Lookup-based interaction: Transformers at the low scale, convolutions at the two high scales. The
       feature-only parts of their fusion layers are computed once per image as well (:meth:`condition`).
    4. The outputs are upsampled to ``4h x 4w``, summed (or concatenated and aggregated), and a 3x3 convolution
       gives ``K`` heatmaps.

    Training (Algorithm 1): ``t`` from :meth:`GaussianDiffusion.sample_timesteps`, ``x_t = q_sample(GT, t)``,
    MSE between the predicted ``x0`` and the GT heatmaps with keypoint weights. Inference (Algorithm 2):
    ``num_noise_groups`` noise groups are denoised in one batched forward per DDIM step.

    Args:
        in_channels (int): Channels ``C`` of the input feature map.
        out_channels (int): Number of keypoints ``K``.
        feat_channels (Sequence[int]): Widths of ``F¹, F², F³`` (low to high resolution).
            Defaults to ``(256, 128, 64)``.
        heatmap_channels (int): Width of the embedded noisy heatmap. Defaults to 64.
        time_embed_dims (int): Size of the sinusoidal step features (the MLP outputs 4x this). Defaults to 64.
        num_heads (int): Attention heads of the low-resolution Transformers. Defaults to 8.
        num_refine_layers (int): Layers of the heatmap self-refinement Transformer. Defaults to 1.
        num_interact_layers (int): Layers of the low-resolution interaction Transformer. Defaults to 2.
        mlp_ratio (float): Feed-forward ratio of those Transformers. Defaults to 2.
        interaction (str): ``'lookup'`` (LMSFI, Eq. 4-5) or ``'concat'`` (noisy heatmap concatenated with the
            feature: the *Direct* baselines of Table 4). Defaults to ``'lookup'``.
        num_scales (int): 3 (LMSFI) or 1 (low resolution only, Table 5). Defaults to 3.
        scale_fusion (str): ``'sum'`` or ``'concat'`` (concatenation + 1x1 aggregation, Table 5 ★) of the
            per-scale outputs. Defaults to ``'sum'``.
        heatmap_norm_cfg (dict): Normalisation on the noisy-heatmap path. BatchNorm mixes the statistics of
            samples at other ``t``; ``dict(type='GN', num_groups=8)`` does not. Defaults to ``dict(type='BN')``.
        step_condition (str): ``'input'`` (FiLM on the embedded heatmap only) or ``'all'`` (also on each
            interaction output). Defaults to ``'input'``.
        self_condition (bool): Feed the previous step's ``x0`` prediction to the network (zeros at the first
            step); trained on half of the batches with the network's own detached prediction. Defaults to False.
        num_train_draws (int): ``(t, noise)`` draws per image per training iteration; the feature pyramid is
            computed once and repeated. Defaults to 1.
        self_align_prob (float): Share of the training draws diffused from the network's own first sampling
            step (its detached ``x0`` prediction from pure noise) instead of from the GT heatmaps, the target
            staying the GT: the later DDIM steps see such inputs at test time. Defaults to 0 (the paper's).
        detach_features (bool): The denoising loss stops at the head's input: the backbone and neck learn from
            ``aux_loss`` alone (HeatmapHead's objective), the head's layers from both, and the denoiser
            conditions on the detached features. Needs ``aux_loss``. Defaults to False.
        diffusion (dict): Settings of :class:`GaussianDiffusion` (``num_timesteps``, ``cosine_s``,
            ``signal_scale``, ``input_mode``, ``last_step_prob``; ``type`` defaults to ``'GaussianDiffusion'``).
        loss (dict): Heatmap loss. Defaults to ``KeypointMSELoss(use_target_weight=True)``.
        aux_loss (dict, optional): Deep supervision of the full-resolution feature ``F³``: a 1x1 convolution
            (HeatmapHead's final layer) regresses the GT heatmaps from it with this loss, in training only (the
            layer is not used at test time). Needs ``num_scales=3``. Defaults to None (off, as in the paper).
        decoder (dict, optional): Keypoint codec used for decoding (``UDPHeatmap`` or ``MSRAHeatmap``).
        init_cfg (dict | list, optional): Initialisation config. Defaults to :attr:`default_init_cfg`, that of
            MMPose's ``HeatmapHead`` (``Normal(std=0.001)`` convolutions, BatchNorm weight 1); ``[]`` keeps
            PyTorch's default initialisation.

    Test-time settings are read from ``test_cfg`` (the model's ``test_cfg``): ``num_noise_groups`` (N, default
    10), ``sampling_steps`` (default 4), ``eta`` (default 1.0), ``seed`` (default ``None``: drawn from torch's
    global RNG), and MMPose's ``flip_test``, ``flip_mode``, ``shift_heatmap``, ``output_heatmaps``. A diagnostic,
    ``aux_readout=True`` (needs ``aux_loss``), predicts the auxiliary layer's regression from ``F³`` instead of
    sampling: what a 1x1 read-out of the head's own full-resolution feature gives without the denoiser.
    """

    def __init__(self, in_channels: int, out_channels: int, feat_channels: Sequence[int] = (256, 128, 64),
                 heatmap_channels: int = 64, time_embed_dims: int = 64, num_heads: int = 8, num_refine_layers: int = 1,
                 num_interact_layers: int = 2, mlp_ratio: float = 2., interaction: str = 'lookup', num_scales: int = 3,
                 scale_fusion: str = 'sum', heatmap_norm_cfg: ConfigType = dict(type='BN'),
                 step_condition: str = 'input', self_condition: bool = False, num_train_draws: int = 1,
                 self_align_prob: float = 0., detach_features: bool = False, diffusion: OptConfigType = None,
                 loss: ConfigType = dict(type='KeypointMSELoss', use_target_weight=True),
                 aux_loss: OptConfigType = None, decoder: OptConfigType = None, init_cfg: OptConfigType = None) -> None:
        super().__init__(self.default_init_cfg if init_cfg is None else init_cfg)
        if len(feat_channels) != 3:
            raise ValueError(f'DiffPoseHead: feat_channels must list 3 widths (low to high scale), '
                             f'got {feat_channels}')
        if feat_channels[0] % num_heads:
            raise ValueError(f'DiffPoseHead: feat_channels[0] ({feat_channels[0]}) must be divisible by '
                             f'num_heads ({num_heads})')
        if feat_channels[0] % 4:  # half of the 2D sinusoidal position embedding per axis, itself sin + cos
            raise ValueError(f'DiffPoseHead: feat_channels[0] ({feat_channels[0]}) must be divisible by 4')
        if time_embed_dims % 2:
            raise ValueError(f'DiffPoseHead: time_embed_dims ({time_embed_dims}) must be even')
        for name, value, choices in (('interaction', interaction, INTERACTIONS), ('scale_fusion', scale_fusion,
                                                                                  SCALE_FUSIONS),
                                     ('step_condition', step_condition, STEP_CONDITIONS), ('num_scales', num_scales,
                                                                                           (1, 3))):
            if value not in choices:
                raise ValueError(f'DiffPoseHead: {name} must be one of {choices}, got {value!r}')
        if not isinstance(num_train_draws, int) or num_train_draws < 1:
            raise ValueError(f'DiffPoseHead: num_train_draws must be a positive integer, got {num_train_draws!r}')
        if not 0 <= self_align_prob <= 1:
            raise ValueError(f'DiffPoseHead: self_align_prob must be in [0, 1], got {self_align_prob!r}')
        if aux_loss is not None and num_scales != 3:
            raise ValueError(f'DiffPoseHead: aux_loss supervises the full-resolution feature F³, which needs '
                             f'num_scales=3, got num_scales={num_scales}')
        if detach_features and aux_loss is None:
            raise ValueError('DiffPoseHead: detach_features leaves aux_loss as the only loss that trains the '
                             'backbone and neck, so it needs aux_loss (e.g. dict(type=\'KeypointMSELoss\', '
                             'use_target_weight=True))')
        self.in_channels = in_channels
        self.detach_features = bool(detach_features)
        self.out_channels = out_channels
        self.self_condition = bool(self_condition)
        self.num_train_draws = num_train_draws
        self.self_align_prob = float(self_align_prob)
        self.loss_module = MODELS.build(loss)
        self.decoder = KEYPOINT_CODECS.build(decoder) if decoder is not None else None
        diffusion_cfg = dict(type='GaussianDiffusion')
        diffusion_cfg.update(diffusion or {})
        self.diffusion = MODELS.build(diffusion_cfg)
        self.test_cfg: dict = {}  # replaced by the pose estimator's test_cfg

        c1, c2, c3 = feat_channels
        # Size-matched feature pyramid: x1 (1x1 projection), x2, x4 (stride-2 deconvolutions).
        self.feat_proj = nn.ModuleList([
            ConvModule(in_channels, c1, 1, norm_cfg=dict(type='BN')),
            self._deconv(c1, c2),
            self._deconv(c2, c3),
        ][:num_scales])
        # Noisy heatmap embedding, step-conditioned FiLM, and strided downsampling (x̄³ -> x̄² -> x̄¹).
        self.time_embed = TimestepEmbedding(time_embed_dims)
        self.film = nn.Sequential(nn.SiLU(), nn.Linear(self.time_embed.out_channels, 2 * heatmap_channels))
        self.heatmap_embed = nn.Conv2d(out_channels * (2 if self_condition else 1), heatmap_channels, 3, padding=1)
        self.heatmap_down = nn.ModuleList([
            ConvModule(heatmap_channels, heatmap_channels, 3, stride=2, padding=1, norm_cfg=heatmap_norm_cfg)
            for _ in range(2)
        ])
        self.interactions = nn.ModuleList([
            _LowResInteraction(c1, heatmap_channels, c3, num_heads, num_refine_layers, num_interact_layers, mlp_ratio,
                               interaction),
            _HighResInteraction(c2, heatmap_channels, c3, interaction, heatmap_norm_cfg),
            _HighResInteraction(c3, heatmap_channels, c3, interaction, heatmap_norm_cfg),
        ][:num_scales])
        # FiLM of each interaction output by the step (step_condition='all').
        self.interaction_films = nn.ModuleList(
            [nn.Sequential(nn.SiLU(), nn.Linear(self.time_embed.out_channels, 2 * c3))
             for _ in range(num_scales)]) if step_condition == 'all' else None
        self.scale_fusion = ConvModule(num_scales * c3, c3, 1, norm_cfg=dict(type='BN')) \
            if scale_fusion == 'concat' else None
        self.final_layer = nn.Conv2d(c3, out_channels, 3, padding=1)
        self.aux_loss_module = MODELS.build(aux_loss) if aux_loss is not None else None
        self.aux_layer = nn.Conv2d(c3, out_channels, 1) if aux_loss is not None else None

    @property
    def default_init_cfg(self) -> list:
        # MMPose's HeatmapHead initialisation. With PyTorch's defaults the head trained about 3x slower: on the
        # synthetic benchmark it reached a training PCK of 0.37 after 300 iterations, 0.86 with this one.
        return [
            dict(type='Normal', layer=['Conv2d', 'ConvTranspose2d'], std=0.001),
            dict(type='Constant', layer='BatchNorm2d', val=1)
        ]

    @staticmethod
    def _deconv(in_channels: int, out_channels: int) -> nn.Sequential:
        """x2 deconvolution + BN + ReLU, as in :class:`HeatmapHead`."""
        return nn.Sequential(
            build_upsample_layer(
                dict(type='deconv', in_channels=in_channels, out_channels=out_channels, kernel_size=4, stride=2,
                     padding=1, output_padding=0, bias=False)), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def init_weights(self) -> None:
        super().init_weights()
        # Start every FiLM as identity (scale = shift = 0) so early training is not dominated by random
        # step-dependent rescaling.
        for film in [self.film] + list(self.interaction_films or []):
            nn.init.zeros_(film[-1].weight)
            nn.init.zeros_(film[-1].bias)

    # ------------------------------------------------------------------ network
    def feature_pyramid(self, feat: Tensor) -> List[Tensor]:
        """Size-matched features ``[F¹ (B,c1,h,w), F² (B,c2,2h,2w), F³ (B,c3,4h,4w)]`` of ``feat (B,C,h,w)``
        (only ``F¹`` when ``num_scales=1``)."""
        if feat.dim() != 4 or feat.shape[1] != self.in_channels:
            raise ValueError(f'DiffPoseHead expects a feature map (B, {self.in_channels}, h, w), got shape '
                             f'{tuple(feat.shape)}; check head.in_channels, or add STRLNeck for (B, T, C, h, w) '
                             'video features')
        pyramid = []
        x = feat
        for layer in self.feat_proj:
            x = layer(x)
            pyramid.append(x)
        return pyramid

    def condition(self, feat: Tensor) -> DenoisingCondition:
        """Everything of a denoising call that depends on the feature only, computed once per person and shared
        by all noise groups, steps (and training draws): the feature pyramid and each interaction's feature
        terms. ``feat (B, C, h, w)`` -> a :class:`DenoisingCondition` of batch ``B``."""
        # channels-last: the convolutions and upsamplings of every denoising call run 2-8x faster on CPU in it
        # (oneDNN, same values up to float rounding), and token views of it need no copy
        pyramid = [p.contiguous(memory_format=torch.channels_last) for p in self.feature_pyramid(feat)]
        return DenoisingCondition(pyramid,
                                  [interaction.condition(f) for interaction, f in zip(self.interactions, pyramid)])

    def denoise(self, condition: Union[DenoisingCondition, Sequence[Tensor]], x_t: Tensor, t: Tensor,
                x_prev: Optional[Tensor] = None) -> Tensor:
        """Predict clean heatmaps ``x0 (B*G, K, 4h, 4w)`` from the noisy network input ``x_t (B*G, K, 4h, 4w)`` and
        steps ``t (B*G,)``, for ``G`` groups per person (contiguous: index ``b * G + g``).

        Args:
            condition: :meth:`condition` of the ``B`` persons' features (or their :meth:`feature_pyramid`, whose
                feature terms are then computed here).
            x_prev (Tensor, optional): ``(B*G, K, 4h, 4w)`` previous ``x0`` prediction, used with
                ``self_condition`` (zeros when ``None``), ignored otherwise.
        """
        if not isinstance(condition, DenoisingCondition):
            condition = DenoisingCondition(
                list(condition), [inter.condition(f) for inter, f in zip(self.interactions, condition)])
        num_persons = condition.pyramid[0].shape[0]
        if x_t.shape[0] % num_persons:
            raise ValueError(f'DiffPoseHead: {x_t.shape[0]} noisy heatmaps are not a whole number of groups per '
                             f'condition feature ({num_persons} persons)')
        if self.self_condition:
            x_t = torch.cat([x_t, torch.zeros_like(x_t) if x_prev is None else x_prev], dim=1)
        x_t = x_t.contiguous(memory_format=torch.channels_last)  # see condition()
        # Sampling calls share one step: embed it once and broadcast (training draws differ per sample).
        same_step = t.numel() > 1 and bool((t == t[0]).all())
        temb = self.time_embed(t[:1] if same_step else t)  # (1 or B*G, D)
        scale, shift = self.film(temb).chunk(2, dim=1)
        hm = self.heatmap_embed(x_t) * (1 + scale[..., None, None]) + shift[..., None, None]
        heatmaps = [hm]
        for down in self.heatmap_down:
            heatmaps.insert(0, down(heatmaps[0]))  # ends as [x̄¹, x̄², x̄³]

        out_size = hm.shape[-2:]
        outputs = []
        for j, (interaction, terms, heatmap) in enumerate(zip(self.interactions, condition.terms, heatmaps)):
            y = interaction(terms, heatmap)
            if self.interaction_films is not None:
                s, b = self.interaction_films[j](temb).chunk(2, dim=1)
                y = y * (1 + s[..., None, None]) + b[..., None, None]
            if y.shape[-2:] != out_size:
                y = F.interpolate(y, size=out_size, mode='bilinear', align_corners=False)
            outputs.append(y)
        fused = self.scale_fusion(torch.cat(outputs, dim=1)) if self.scale_fusion is not None else sum(outputs)
        return self.final_layer(fused).contiguous()

    def _check_heatmap_size(self, feat: Tensor, heatmap_hw: Tuple[int, int], source: str) -> None:
        h, w = feat.shape[-2:]
        if tuple(heatmap_hw) != (4 * h, 4 * w):
            raise ValueError(
                f'DiffPoseHead: {source} heatmaps are {heatmap_hw[0]}x{heatmap_hw[1]} (HxW) but the feature map is '
                f'{h}x{w}; the heatmaps must be 4x the feature size, i.e. set the codec heatmap_size=({4 * w}, '
                f'{4 * h}) (W, H) or change the input size/backbone stride')

    def sample(self, feat: Tensor, num_noise_groups: int, sampling_steps: int, eta: float,
               generator: Optional[torch.Generator] = None) -> Tensor:
        """Run DDIM for ``N`` noise groups of every sample in one batched forward per step.

        Args:
            feat (Tensor): ``(B, C, h, w)`` condition feature.

        Returns:
            Tensor: ``(B, N, K, 4h, 4w)`` predicted ``x0`` heatmaps of every group.
        """
        if self.decoder is not None and hasattr(self.decoder, 'heatmap_size'):
            w, h = self.decoder.heatmap_size
            self._check_heatmap_size(feat, (h, w), 'decoder (codec)')
        B, N = feat.shape[0], num_noise_groups
        condition = self.condition(feat)  # once per person, shared by the N groups and all steps
        H, W = 4 * feat.shape[-2], 4 * feat.shape[-1]

        def denoise_fn(x_t: Tensor, t: Tensor, x_prev: Optional[Tensor]) -> Tensor:
            return self.denoise(condition, x_t, t, x_prev)  # groups of one sample are contiguous: b * N + n

        x0 = self.diffusion.sample(denoise_fn, (B * N, self.out_channels, H, W), sampling_steps, eta=eta,
                                   generator=generator, device=feat.device)
        return x0.reshape(B, N, self.out_channels, H, W)

    def sample_flip_pair(self, feat: Tensor, feat_flip: Tensor, num_noise_groups: int, sampling_steps: int, eta: float,
                         seed: int) -> Tuple[Tensor, Tensor]:
        """DDIM for the features and the flipped features in **one** batched forward per step (``2*B*N``
        samples), with exactly the noise and results of two :meth:`sample` calls whose generators are seeded
        with ``seed`` (flip test compares the two passes under the same noise).

        :meth:`GaussianDiffusion.sample` runs both trajectories in one batch with one generator each (seeded
        alike), so both halves see identical noise.

        Args:
            feat, feat_flip (Tensor): ``(B, C, h, w)`` condition features of the images and of their flips.

        Returns:
            tuple[Tensor, Tensor]: ``(B, N, K, 4h, 4w)`` predicted ``x0`` heatmaps of every group, for the images
            and for the flipped images (not flipped back).
        """
        if self.decoder is not None and hasattr(self.decoder, 'heatmap_size'):
            w, h = self.decoder.heatmap_size
            self._check_heatmap_size(feat, (h, w), 'decoder (codec)')
        B, N, K = feat.shape[0], num_noise_groups, self.out_channels
        H, W = 4 * feat.shape[-2], 4 * feat.shape[-1]
        # persons 0..B-1 are the images, B..2B-1 their flips; groups of person p are p * N + n, so the batch is
        # the two trajectories one after the other, each with its own generator seeded alike
        condition = self.condition(torch.cat([feat, feat_flip]))
        generators = [seeded_generator(feat.device, seed) for _ in range(2)]
        x0 = self.diffusion.sample(lambda x_t, t, x_prev: self.denoise(condition, x_t, t, x_prev), (2 * B * N, K, H, W),
                                   sampling_steps, eta=eta, generator=generators, device=feat.device)
        x0, x0_flip = x0.reshape(2, B, N, K, H, W)
        return x0, x0_flip

    def forward(self, feats: Tuple[Tensor]) -> Tensor:
        """Sample heatmaps ``(B, K, 4h, 4w)`` (mean over noise groups) with the settings in ``self.test_cfg``."""
        cfg = self._sampling_cfg(self.test_cfg)
        generator = seeded_generator(feats[-1].device, resolve_seed(cfg['seed']))
        return self.sample(feats[-1], cfg['num_noise_groups'], cfg['sampling_steps'], cfg['eta'], generator).mean(dim=1)

    # ------------------------------------------------------------------ test-time settings
    @staticmethod
    def _sampling_cfg(test_cfg: ConfigType) -> dict:
        return parse_sampling_cfg(test_cfg, owner='DiffPoseHead')

    # ------------------------------------------------------------------ MMPose API
    def predict(self, feats: Features, batch_data_samples: OptSampleList, test_cfg: ConfigType = {}) -> Predictions:
        """Sample, ensemble and decode keypoints.

        The ``N`` predicted ``x0`` heatmaps are averaged *before* decoding: where groups disagree between two
        locations, the averaged heatmap keeps the mode most groups agree on (and its peak value, the keypoint
        score, drops with the disagreement), whereas averaging decoded coordinates would land between the
        modes, where there is no joint. Sub-pixel decoders (DARK/UDP) also work best on the smoother mean.

        Returns:
            ``InstanceData`` per sample with ``keypoints (1, K, 2)``, ``keypoint_scores (1, K)`` and
            ``keypoint_spread (1, K)``: the root-mean-square distance of the ``N`` groups' decoded locations from
            their mean, in original-image pixels when the data samples carry ``input_size``/``input_scale``
            (input-image pixels otherwise); zero when ``N = 1``. With ``output_heatmaps=True`` also a
            ``PixelData(heatmaps=(K, 4h, 4w))`` per sample.
        """
        cfg = self._sampling_cfg(test_cfg)
        flip_test = test_cfg.get('flip_test', False)
        if flip_test:
            assert isinstance(feats, list) and len(feats) == 2, 'flip test expects [feats, feats_flipped]'
            feats, feats_flip = feats
        feat = feats[-1]
        # One seed per call; both flip passes use generators seeded alike, i.e. exactly the same noise.
        seed = resolve_seed(cfg['seed'])
        sampling = (cfg['num_noise_groups'], cfg['sampling_steps'], cfg['eta'])
        if test_cfg.get('aux_readout', False):  # one "group": the auxiliary regression, no sampling
            groups = self._aux_readout(feat)
            groups_flip = self._aux_readout(feats_flip[-1]) if flip_test else None
        elif flip_test:  # both passes in one batched forward per step
            groups, groups_flip = self.sample_flip_pair(feat, feats_flip[-1], *sampling, seed)  # (B, N, K, H, W)
        else:
            groups = self.sample(feat, *sampling, seeded_generator(feat.device, seed))  # (B, N, K, H, W)
        if flip_test:
            B, N, K, H, W = groups.shape
            groups_flip = flip_heatmaps(
                groups_flip.flatten(0, 1), flip_mode=test_cfg.get('flip_mode', 'heatmap'),
                flip_indices=batch_data_samples[0].metainfo['flip_indices'],
                shift_heatmap=test_cfg.get('shift_heatmap', False))
            groups = (groups + groups_flip.reshape(B, N, K, H, W)) * 0.5

        heatmaps = groups.mean(dim=1)
        preds = self.decode(heatmaps)
        for pred, spread in zip(preds, self._spread(groups, batch_data_samples)):
            pred.keypoint_spread = spread

        if test_cfg.get('output_heatmaps', False):
            return preds, [PixelData(heatmaps=hm) for hm in heatmaps.detach()]
        return preds

    def _aux_readout(self, feat: Tensor) -> Tensor:
        """The auxiliary layer's heatmaps ``(B, 1, K, 4h, 4w)`` from ``F³`` of ``feat (B, C, h, w)``."""
        if self.aux_layer is None:
            raise ValueError('DiffPoseHead: test_cfg.aux_readout reads the heatmaps out of the auxiliary layer, '
                             'which only a head trained with aux_loss has')
        return self.aux_layer(self.feature_pyramid(feat)[-1])[:, None]

    def _spread(self, groups: Tensor, batch_data_samples: OptSampleList) -> List[np.ndarray]:
        """Per-keypoint spread ``(1, K)`` of the decoded locations of the ``N`` groups, per sample."""
        B, N, K = groups.shape[:3]
        if N == 1:
            return [np.zeros((1, K), dtype=np.float32) for _ in range(B)]
        locs = np.stack([p.keypoints[0] for p in self.decode(groups.flatten(0, 1))]).reshape(B, N, K, 2)
        spreads = []
        for b in range(B):
            d = locs[b] - locs[b].mean(axis=0, keepdims=True)  # (N, K, 2)
            meta = batch_data_samples[b].metainfo if batch_data_samples is not None else {}
            if 'input_size' in meta and 'input_scale' in meta:
                d = d * (
                    np.asarray(meta['input_scale'], dtype=np.float32) /
                    np.asarray(meta['input_size'], dtype=np.float32))
            spreads.append(np.sqrt((d**2).sum(-1).mean(0))[None].astype(np.float32))
        return spreads

    def _diffusion_source(self, condition: DenoisingCondition, gt_heatmaps: Tensor) -> Tensor:
        """What a training draw diffuses ``(B*D, K, H, W)``: the GT heatmaps, or with ``self_align_prob`` for that
        share of the draws the network's own first sampling step (one-step :meth:`GaussianDiffusion.sample`: pure
        noise at ``t = T-1``), its ``x0`` prediction clamped to the data range, without gradient."""
        if self.self_align_prob == 0:
            return gt_heatmaps
        with torch.no_grad():
            own = self.diffusion.sample(lambda x_t, t, x_prev: self.denoise(condition, x_t, t, x_prev),
                                        gt_heatmaps.shape, 1, device=gt_heatmaps.device).clamp(0, 1)
        use_own = torch.rand(gt_heatmaps.shape[0], device=gt_heatmaps.device) < self.self_align_prob
        return torch.where(use_own[:, None, None, None], own, gt_heatmaps)

    def loss(self, feats: Tuple[Tensor], batch_data_samples: OptSampleList, train_cfg: ConfigType = {}) -> dict:
        """Algorithm 1: diffuse the GT heatmaps to a random step and regress them back (x0 prediction).

        With ``num_train_draws = D`` every image is diffused ``D`` times (independent ``t`` and noise) and the
        loss averages over all draws; the feature pyramid is computed once. With ``self_condition``, on half
        of the iterations the network first predicts ``x0`` without gradient and then sees that prediction.
        """
        feat = feats[-1]
        gt_heatmaps = torch.stack([d.gt_fields.heatmaps for d in batch_data_samples])
        keypoint_weights = torch.cat([d.gt_instance_labels.keypoint_weights for d in batch_data_samples])
        self._check_heatmap_size(feat, gt_heatmaps.shape[-2:], 'ground-truth (gt_fields.heatmaps)')

        # once per image, shared by its draws (index b * D + d)
        condition = self.condition(feat.detach() if self.detach_features else feat)
        losses = dict()
        if self.aux_layer is not None:  # before the draws repeat the targets: once per image
            full_res = self.feature_pyramid(feat)[-1] if self.detach_features else condition.pyramid[-1]
            aux_pred = self.aux_layer(full_res)
            losses['loss_aux'] = self.aux_loss_module(aux_pred, gt_heatmaps, keypoint_weights)
        if self.num_train_draws > 1:
            D = self.num_train_draws
            gt_heatmaps = gt_heatmaps.repeat_interleave(D, dim=0)
            keypoint_weights = keypoint_weights.repeat_interleave(D, dim=0)
        t = self.diffusion.sample_timesteps(gt_heatmaps.shape[0], gt_heatmaps.device)
        x_t = self.diffusion.q_sample(self._diffusion_source(condition, gt_heatmaps), t)
        x_prev = None
        if self.self_condition and torch.rand(()).item() < 0.5:
            with torch.no_grad():
                x_prev = self.denoise(condition, x_t, t).detach()
        pred = self.denoise(condition, x_t, t, x_prev)

        losses['loss_kpt'] = self.loss_module(pred, gt_heatmaps, keypoint_weights)
        if train_cfg.get('compute_acc', True):
            _, avg_acc, _ = pose_pck_accuracy(
                output=to_numpy(pred), target=to_numpy(gt_heatmaps), mask=to_numpy(keypoint_weights) > 0)
            losses.update(acc_pose=torch.tensor(avg_acc, device=gt_heatmaps.device))
        return losses
