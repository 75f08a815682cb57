import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData, PixelData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample
from torch.nn import functional as F

import diffpose_mm  # noqa: F401  (registers the modules)


@pytest.fixture(autouse=True)
def mmpose_scope():
    """Build from MMPose's registries whatever default scope earlier tests left behind."""
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


K, C, h, w = 3, 8, 4, 3  # keypoints, feature channels, feature size -> heatmaps 16x12, input 48x64 (W, H)
CODEC = dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=1)


def build_head(**kwargs):
    # PyTorch's initialisation (init_cfg=[]): the sampling tests need a network whose output visibly depends on
    # its noisy input, which the default near-zero initialisation of the convolutions does not give.
    cfg = dict(type='DiffPoseHead', in_channels=C, out_channels=K, feat_channels=(16, 8, 8), heatmap_channels=8,
               time_embed_dims=8, num_heads=2, decoder=CODEC, init_cfg=[])
    cfg.update(kwargs)
    torch.manual_seed(0)
    head = MODELS.build(cfg)
    head.init_weights()
    return head.eval()


def gaussian_heatmaps(centers, size=(16, 12), sigma=1.0):
    """(N, K, H, W) heatmaps with unit peaks at ``centers`` (N, K, 2) given as (x, y) heatmap pixels."""
    ys, xs = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing='ij')
    c = torch.as_tensor(centers, dtype=torch.float32)
    return torch.exp(-((xs - c[..., 0, None, None])**2 + (ys - c[..., 1, None, None])**2) / (2 * sigma**2))


def data_samples(B, heatmaps=None, input_scale=(96., 128.)):
    samples = []
    for b in range(B):
        ds = PoseDataSample(
            metainfo=dict(
                input_size=(48, 64), input_center=np.array([50., 60.]), input_scale=np.array(
                    input_scale, dtype=np.float32), flip_indices=[0, 2, 1]))
        ds.gt_instances = InstanceData(bboxes=np.zeros((1, 4)), bbox_scores=np.ones(1))
        if heatmaps is not None:
            ds.gt_fields = PixelData(heatmaps=heatmaps[b])
            ds.gt_instance_labels = InstanceData(keypoint_weights=torch.tensor([[1., 1., 0.]]))
        samples.append(ds)
    return samples


def test_loss_is_weighted_mse_of_x0_prediction():
    head = build_head().train()
    feat = torch.randn(2, C, h, w)
    gt = gaussian_heatmaps([[[2, 3], [5, 8], [9, 14]], [[1, 1], [6, 6], [10, 2]]])
    samples = data_samples(2, gt)
    torch.manual_seed(3)
    losses = head.loss((feat, ), samples)
    assert set(losses) == {'loss_kpt', 'acc_pose'} and 0 <= losses['acc_pose'] <= 1
    # Algorithm 1 by hand with the same random draws (t first, then the noise)
    torch.manual_seed(3)
    t = head.diffusion.sample_timesteps(2, feat.device)
    x_t = head.diffusion.q_sample(gt, t)
    pred = head.denoise(head.feature_pyramid(feat), x_t, t)
    weights = torch.tensor([1., 1., 0.])[None, :, None, None]
    expected = (F.mse_loss(pred, gt, reduction='none') * weights).mean()
    assert losses['loss_kpt'].item() == pytest.approx(expected.item(), rel=1e-5)
    losses['loss_kpt'].backward()
    assert all(p.grad is not None for p in head.parameters() if p.requires_grad)
    assert 'acc_pose' not in head.loss((feat, ), samples, train_cfg=dict(compute_acc=False))


def test_heatmap_size_must_be_four_times_the_feature():
    head = build_head().train()
    gt = torch.rand(1, K, 32, 24)
    with pytest.raises(ValueError, match=r'ground-truth.*32x24.*4x the feature size.*heatmap_size=\(12, 16\)'):
        head.loss((torch.randn(1, C, h, w), ), data_samples(1, gt))
    bad_codec = build_head(decoder=dict(CODEC, heatmap_size=(24, 32)))
    with pytest.raises(ValueError, match='decoder'):
        bad_codec.predict((torch.randn(1, C, h, w), ), data_samples(1), test_cfg=dict(num_noise_groups=1))
    with pytest.raises(ValueError, match='in_channels'):
        head.feature_pyramid(torch.randn(1, C + 1, h, w))
    with pytest.raises(ValueError, match='STRLNeck'):
        head.feature_pyramid(torch.randn(1, 2, C, h, w))


@pytest.mark.parametrize('num_noise_groups', [1, 10])
@pytest.mark.parametrize('sampling_steps', [1, 4])
def test_sampling_is_batched_seeded_and_spread_is_reported(num_noise_groups, sampling_steps):
    head = build_head()
    feat = torch.randn(2, C, h, w)
    calls = []
    denoise = head.denoise
    head.denoise = lambda pyr, x_t, t, x_prev: calls.append((x_t.shape[0], t[0].item())) or denoise(pyr, x_t, t, x_prev)
    cfg = dict(num_noise_groups=num_noise_groups, sampling_steps=sampling_steps, seed=5, output_heatmaps=True)
    preds, fields = head.predict((feat, ), data_samples(2), test_cfg=cfg)
    # the N groups of all samples go through the network together, once per DDIM step
    assert calls == [(2 * num_noise_groups, t) for t, _ in head.diffusion.ddim_time_pairs(sampling_steps)]
    assert len(preds) == 2 and preds[0].keypoints.shape == (1, K, 2) and preds[0].keypoint_scores.shape == (1, K)
    assert fields[0].heatmaps.shape == (K, 16, 12)
    again, fields_again = head.predict((feat, ), data_samples(2), test_cfg=cfg)
    for a, b in zip(preds, again):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert torch.equal(fields[0].heatmaps, fields_again[0].heatmaps)
    _, other_seed = head.predict((feat, ), data_samples(2), test_cfg=dict(cfg, seed=6))
    assert not torch.allclose(fields[0].heatmaps, other_seed[0].heatmaps)
    spread = np.stack([p.keypoint_spread for p in preds])
    assert spread.shape == (2, 1, K) and np.all(spread >= 0)
    if num_noise_groups == 1:
        assert np.all(spread == 0)


def test_seed_none_follows_torch_global_rng():
    head = build_head()
    feat = torch.randn(1, C, h, w)
    cfg = dict(num_noise_groups=2, sampling_steps=1, output_heatmaps=True)
    torch.manual_seed(1)
    a = head.predict((feat, ), data_samples(1), test_cfg=cfg)[1][0].heatmaps
    b = head.predict((feat, ), data_samples(1), test_cfg=cfg)[1][0].heatmaps
    torch.manual_seed(1)
    c = head.predict((feat, ), data_samples(1), test_cfg=cfg)[1][0].heatmaps
    assert torch.equal(a, c) and not torch.allclose(a, b)


def test_groups_are_averaged_before_decoding_and_spread_is_in_image_pixels():
    """Two of three groups put keypoint 0 at (3, 4), one at (9, 12): the mean heatmap decodes to the majority
    location (coordinate averaging would give (5, 6.67), where no group has a joint)."""
    head = build_head()
    centers = torch.tensor([[[3., 4.], [6., 6.], [2., 2.]], [[3., 4.], [6., 6.], [2., 2.]],
                            [[9., 12.], [6., 6.], [2., 4.]]])  # (N=3, K, 2) heatmap pixels
    groups = gaussian_heatmaps(centers)[None]  # (B=1, N, K, H, W)
    head.sample = lambda feat, *args, **kwargs: groups
    preds = head.predict((torch.randn(1, C, h, w), ), data_samples(1, input_scale=(96., 128.)),
                         test_cfg=dict(num_noise_groups=3))
    kpts = preds[0].keypoints[0]
    np.testing.assert_allclose(kpts[0], [3 * 4, 4 * 4], atol=1.0)  # input pixels: 4 per heatmap pixel
    np.testing.assert_allclose(kpts[1], [6 * 4, 6 * 4], atol=0.5)
    # spread = RMS distance of the decoded group locations from their mean, in original-image pixels
    # (input 48x64 covers a 96x128 box: 2 image pixels per input pixel, i.e. 8 per heatmap pixel)
    d0 = (centers[:, 0] - centers[:, 0].mean(0)) * 8
    d2 = (centers[:, 2] - centers[:, 2].mean(0)) * 8
    expected = [d0.pow(2).sum(-1).mean().sqrt().item(), 0.0, d2.pow(2).sum(-1).mean().sqrt().item()]
    np.testing.assert_allclose(preds[0].keypoint_spread[0], expected, rtol=0.05, atol=0.3)


def test_flip_test_uses_the_same_noise_for_both_passes():
    head = build_head()
    feat = torch.randn(2, C, h, w)
    seeds = []
    sample = head.diffusion.sample
    generators = lambda g: g if isinstance(g, list) else [g]  # noqa: E731
    head.diffusion.sample = lambda *a, **kw: seeds.append([g.initial_seed()
                                                           for g in generators(kw['generator'])]) or sample(*a, **kw)
    base = dict(num_noise_groups=4, sampling_steps=2, output_heatmaps=True)
    plain = head.predict((feat, ), data_samples(2), test_cfg=dict(base, seed=9))[1]
    # flipped features identical to the originals: with the same noise the flip pass reproduces the plain
    # heatmaps, so the flip-test result is their average with the mirrored (and keypoint-swapped) copy
    head.predict([(feat, ), (feat, )], data_samples(2), test_cfg=dict(base, flip_test=True, shift_heatmap=False))
    assert len(seeds) == 2  # plain: one sampler run; flip test: one run for both passes
    assert len(seeds[0]) == 1 and len(seeds[1]) == 2 and seeds[1][0] == seeds[1][1]  # two trajectories, seeded alike
    seeds.clear()
    flipped = head.predict([(feat, ), (feat, )], data_samples(2), test_cfg=dict(base, seed=9, flip_test=True,
                                                                                shift_heatmap=False))[1]
    for p, f in zip(plain, flipped):
        expected = (p.heatmaps + p.heatmaps.flip(-1)[[0, 2, 1]]) / 2
        assert torch.allclose(f.heatmaps, expected, atol=1e-6)


def test_forward_uses_head_test_cfg():
    head = build_head()
    head.test_cfg = dict(num_noise_groups=3, sampling_steps=2, seed=4)
    feat = torch.randn(2, C, h, w)
    out = head((feat, ))
    ref = head.predict((feat, ), data_samples(2), test_cfg=dict(head.test_cfg, output_heatmaps=True))[1]
    assert out.shape == (2, K, 16, 12)
    assert torch.allclose(out, torch.stack([r.heatmaps for r in ref]))


@pytest.mark.parametrize('key,value', [('num_noise_groups', 0), ('sampling_steps', 1.5), ('eta', 2.0)])
def test_invalid_sampling_settings_name_the_option(key, value):
    head = build_head()
    with pytest.raises(ValueError, match=f'test_cfg.{key}'):
        head.predict((torch.randn(1, C, h, w), ), data_samples(1), test_cfg={key: value})


def test_invalid_constructor_arguments():
    with pytest.raises(ValueError, match='feat_channels'):
        build_head(feat_channels=(16, 8))
    with pytest.raises(ValueError, match='num_heads'):
        build_head(feat_channels=(15, 8, 8), num_heads=2)


def test_diffusion_settings_come_from_the_config():
    head = build_head(diffusion=dict(num_timesteps=100, signal_scale=1.0))
    assert head.diffusion.num_timesteps == 100 and head.diffusion.signal_scale == 1.0
    assert head.diffusion.ddim_time_pairs(1) == [(99, -1)]


def test_head_in_plain_topdown_estimator_with_cfg_override():
    """DiffPoseHead replaces HeatmapHead in a stock single-frame TopdownPoseEstimator; changing the model's
    test_cfg (what ``--cfg-options model.test_cfg.sampling_steps=1`` does) changes the sampling, no retraining."""
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='TopdownPoseEstimator', backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8,
                                                       num_stages=2, strides=(1, 2), dilations=(1, 1),
                                                       out_indices=(1, )),
            head=dict(type='DiffPoseHead', in_channels=16, out_channels=K, feat_channels=(16, 8, 8), heatmap_channels=8,
                      time_embed_dims=8, num_heads=2, decoder=dict(CODEC, input_size=(96, 128), heatmap_size=(48, 64))),
            test_cfg=dict(flip_test=True, num_noise_groups=2, sampling_steps=4, seed=0)))
    model.init_weights()
    inputs = torch.randn(2, 3, 128, 96)
    gt = torch.rand(2, K, 64, 48)
    losses = model.loss(inputs, data_samples(2, gt))
    assert torch.isfinite(losses['loss_kpt'])
    model.eval()
    steps = []
    denoise = model.head.denoise
    model.head.denoise = lambda cond, x_t, t, x_prev: steps.append(
        (t[0].item(), len(x_t))) or denoise(cond, x_t, t, x_prev)
    with torch.no_grad():
        out = model.predict(inputs, data_samples(2))
    # plain and flipped pass of both people and both noise groups in one forward per step
    assert steps == [(999, 8), (749, 8), (499, 8), (249, 8)]
    assert out[0].pred_instances.keypoints.shape == (1, K, 2)
    assert out[0].pred_instances.keypoint_spread.shape == (1, K)
    steps.clear()
    model.test_cfg['sampling_steps'] = 1
    with torch.no_grad():
        model.predict(inputs, data_samples(2))
    assert steps == [(999, 8)]


@pytest.mark.parametrize('kwargs', [
    dict(interaction='concat'),
    dict(num_scales=1),
    dict(scale_fusion='concat'),
    dict(heatmap_norm_cfg=dict(type='GN', num_groups=2)),
    dict(step_condition='all'),
    dict(self_condition=True),
    dict(diffusion=dict(signal_scale=0.1, input_mode='normalize', last_step_prob=0.5)),
    dict(aux_loss=dict(type='KeypointMSELoss', use_target_weight=True)),
    dict(self_align_prob=0.5),
    dict(aux_loss=dict(type='KeypointMSELoss', use_target_weight=True), detach_features=True),
])
def test_variants_train_and_sample(kwargs):
    """Every ablation switch builds, gives a finite loss whose gradient reaches every parameter, and samples."""
    head = build_head(**kwargs).train()
    gt = gaussian_heatmaps([[[2, 3], [5, 8], [9, 14]], [[1, 1], [6, 6], [10, 2]]])
    torch.manual_seed(0)
    for _ in range(2):  # self-conditioning uses its own prediction on about half of the iterations
        head.zero_grad()
        losses = head.loss((torch.randn(2, C, h, w), ), data_samples(2, gt))
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        assert torch.isfinite(loss)
        loss.backward()
        assert all(p.grad is not None for p in head.parameters() if p.requires_grad)
    preds = head.eval().predict((torch.randn(2, C, h, w), ), data_samples(2),
                                test_cfg=dict(num_noise_groups=2, sampling_steps=2, seed=0))
    assert np.isfinite(preds[0].keypoints).all()


def test_concat_interaction_has_no_lookup_mask():
    """'concat' (Table 4 Direct) feeds the refined heatmap itself, 'lookup' only a sigmoid mask of it: with the
    feature fixed, the lookup branch output is a function of the 1-channel mask (max over channels)."""
    lookup, concat = build_head().interactions[1], build_head(interaction='concat').interactions[1]
    assert lookup.interact[0].conv.in_channels == 2 * 8 and concat.interact[0].conv.in_channels == 8 + 8
    feat, hm = torch.randn(1, 8, 8, 6), torch.randn(1, 8, 8, 6)
    lookup.eval()
    masks = []
    first_conv = lookup._first_conv
    lookup._first_conv = lambda x, weight: masks.append(x / feat) or first_conv(x, weight)
    lookup(lookup.condition(feat), hm)
    # the noisy-heatmap half of the first interaction convolution sees A ⊙ F with a single-channel A in (0, 1)
    a = masks[0]
    assert torch.allclose(a, a[:, :1].expand_as(a), atol=1e-5) and a.min() > 0 and a.max() < 1


def test_self_conditioning_feeds_the_previous_prediction():
    head = build_head(self_condition=True)
    assert head.heatmap_embed.in_channels == 2 * K
    seen = []
    denoise = head.denoise
    head.denoise = lambda pyr, x_t, t, x_prev: seen.append(x_prev) or outs.append(denoise(pyr, x_t, t, x_prev)) \
        or outs[-1]
    outs = []
    head.sample(torch.randn(2, C, h, w), 3, 3, eta=1.0, generator=torch.Generator().manual_seed(0))
    assert seen[0] is None and all(torch.equal(p, o) for p, o in zip(seen[1:], outs[:-1]))
    # the input it sees changes the prediction (it is used), and None means zeros
    pyr = head.feature_pyramid(torch.randn(1, C, h, w))
    x_t, t = torch.rand(1, K, 16, 12), torch.tensor([500])
    assert torch.equal(denoise(pyr, x_t, t), denoise(pyr, x_t, t, torch.zeros(1, K, 16, 12)))
    assert not torch.allclose(denoise(pyr, x_t, t), denoise(pyr, x_t, t, torch.ones(1, K, 16, 12)))


def test_num_train_draws_averages_the_loss_over_independent_draws():
    head = build_head(num_train_draws=3).train()
    feat = torch.randn(2, C, h, w)
    gt = gaussian_heatmaps([[[2, 3], [5, 8], [9, 14]], [[1, 1], [6, 6], [10, 2]]])
    torch.manual_seed(3)
    loss = head.loss((feat, ), data_samples(2, gt))['loss_kpt']
    torch.manual_seed(3)
    pyramid = [p.repeat_interleave(3, dim=0) for p in head.feature_pyramid(feat)]
    t = head.diffusion.sample_timesteps(6, feat.device)
    x_t = head.diffusion.q_sample(gt.repeat_interleave(3, dim=0), t)
    pred = head.denoise(pyramid, x_t, t)
    weights = torch.tensor([1., 1., 0.])[None, :, None, None]
    expected = (F.mse_loss(pred, gt.repeat_interleave(3, dim=0), reduction='none') * weights).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert len(set(t.tolist())) > 2  # each image got different steps


@pytest.mark.parametrize('draws', [1, 2])
def test_self_align_diffuses_the_networks_own_first_sampling_step(draws):
    """self_align_prob=1: every draw diffuses the detached x0 the sampler's first step would give (pure noise in at
    t = T-1, clamped to [0, 1]), and the loss still compares with the GT."""
    head = build_head(self_align_prob=1., num_train_draws=draws).train()
    feat = torch.randn(2, C, h, w)
    gt = gaussian_heatmaps([[[2, 3], [5, 8], [9, 14]], [[1, 1], [6, 6], [10, 2]]])
    torch.manual_seed(3)
    loss = head.loss((feat, ), data_samples(2, gt))['loss_kpt']
    # by hand, with the random draws in the same order: t, the first step's noise, the per-draw choice, q_sample
    torch.manual_seed(3)
    gt_draws = gt.repeat_interleave(draws, dim=0)
    condition = head.condition(feat)
    t = head.diffusion.sample_timesteps(2 * draws, feat.device)
    t_first = torch.full((2 * draws, ), head.diffusion.num_timesteps - 1)
    with torch.no_grad():
        x_first = head.diffusion.network_input(torch.randn_like(gt_draws), t_first)
        own = head.denoise(condition, x_first, t_first).clamp(0, 1)
    torch.rand(2 * draws)
    pred = head.denoise(condition, head.diffusion.q_sample(own, t), t)
    weights = torch.tensor([1., 1., 0.])[None, :, None, None]
    expected = (F.mse_loss(pred, gt_draws, reduction='none') * weights).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert (own - gt_draws).abs().max() > 0.1  # not the GT in disguise: the untrained network's own guess
    # its gradient flows through the trained pass only (the first step is detached)
    loss.backward()
    assert all(p.grad is not None for p in head.parameters() if p.requires_grad)


AUX = dict(aux_loss=dict(type='KeypointMSELoss', use_target_weight=True, loss_weight=0.5))


@pytest.mark.parametrize('draws', [1, 2])
def test_aux_loss_regresses_the_heatmaps_from_the_full_resolution_feature(draws):
    """``loss_aux`` is the weighted MSE of a 1x1 convolution of F³ against the GT heatmaps (once per image, however
    many draws), its gradient reaches the feature pyramid only, and ``loss_kpt`` is unchanged by it."""
    head, plain = build_head(num_train_draws=draws, **AUX).train(), build_head(num_train_draws=draws).train()
    plain.load_state_dict(head.state_dict(), strict=False)  # same weights except the auxiliary layer
    feat = torch.randn(2, C, h, w)
    gt = gaussian_heatmaps([[[2, 3], [5, 8], [9, 14]], [[1, 1], [6, 6], [10, 2]]])
    torch.manual_seed(3)
    losses = head.loss((feat, ), data_samples(2, gt))
    assert set(losses) == {'loss_aux', 'loss_kpt', 'acc_pose'}
    torch.manual_seed(3)  # the same (t, noise) draws for the head without the auxiliary layer
    assert losses['loss_kpt'].item() == pytest.approx(plain.loss((feat, ), data_samples(2, gt))['loss_kpt'].item())
    aux_pred = head.aux_layer(head.feature_pyramid(feat)[-1])
    weights = torch.tensor([1., 1., 0.])[None, :, None, None]
    expected = 0.5 * (F.mse_loss(aux_pred, gt, reduction='none') * weights).mean()
    assert losses['loss_aux'].item() == pytest.approx(expected.item(), rel=1e-5) and expected > 0
    losses['loss_aux'].backward()
    assert head.feat_proj[2][0].weight.grad.abs().sum() > 0 and head.aux_layer.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in head.interactions.parameters())


def test_aux_loss_is_training_only():
    """The auxiliary layer adds parameters but does not change sampling: same weights, same predictions."""
    head, plain = build_head(**AUX), build_head()
    assert set(head.state_dict()) - set(plain.state_dict()) == {'aux_layer.weight', 'aux_layer.bias'}
    plain.load_state_dict(head.state_dict(), strict=False)
    feat, cfg = torch.randn(2, C, h, w), dict(num_noise_groups=2, sampling_steps=2, seed=0)
    preds, plain_preds = head.predict((feat, ), data_samples(2), cfg), plain.predict((feat, ), data_samples(2), cfg)
    assert np.array_equal(preds[0].keypoints, plain_preds[0].keypoints)
    assert np.array_equal(preds[1].keypoint_scores, plain_preds[1].keypoint_scores)


@pytest.mark.parametrize('draws', [1, 2])
def test_detach_features_leaves_the_features_to_the_aux_loss(draws):
    """With ``detach_features`` the losses keep their values, the head's input feature (the neck's output) gets
    the gradient of ``loss_aux`` alone, and the denoiser's parameters the same gradient as without it."""
    head, plain = build_head(detach_features=True, num_train_draws=draws, **AUX).train(), \
        build_head(num_train_draws=draws, **AUX).train()
    plain.load_state_dict(head.state_dict())
    base = torch.randn(2, C, h, w)
    gt = gaussian_heatmaps([[[2, 3], [5, 8], [9, 14]], [[1, 1], [6, 6], [10, 2]]])
    grads, losses = {}, {}
    for name, model, keys in (('detached', head, ('loss_kpt', 'loss_aux')), ('plain', plain, ('loss_kpt', 'loss_aux')),
                              ('plain_aux', plain, ('loss_aux', ))):
        feat = base.clone().requires_grad_()
        model.zero_grad()
        torch.manual_seed(3)  # the same (t, noise) draws
        out = model.loss((feat, ), data_samples(2, gt))
        sum(out[k] for k in keys).backward()
        losses[name] = {k: out[k].item() for k in keys}
        grads[name] = (feat.grad.clone(), model.final_layer.weight.grad)
    assert losses['detached'] == pytest.approx(losses['plain'], rel=1e-5)
    torch.testing.assert_close(grads['detached'][0], grads['plain_aux'][0], atol=1e-7, rtol=1e-5)
    assert (grads['plain'][0] - grads['plain_aux'][0]).abs().max() > 1e-6  # the denoising loss does reach it
    torch.testing.assert_close(grads['detached'][1], grads['plain'][1], atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize('flip_test', [False, True])
def test_aux_readout_predicts_the_aux_layers_regression(flip_test):
    """``test_cfg.aux_readout`` decodes the auxiliary layer's heatmaps of F³ (averaged with the flipped pass under
    flip test), without sampling; a head without ``aux_loss`` names the option."""
    head = build_head(**AUX)
    torch.manual_seed(4)
    feat, feat_flip = torch.randn(2, C, h, w), torch.randn(2, C, h, w)
    cfg = dict(num_noise_groups=3, sampling_steps=2, seed=0, aux_readout=True, flip_test=flip_test)
    with torch.no_grad():
        preds = head.predict([(feat, ), (feat_flip, )] if flip_test else (feat, ), data_samples(2), cfg)
        expected = head.aux_layer(head.feature_pyramid(feat)[-1])
        if flip_test:
            flipped = head.aux_layer(head.feature_pyramid(feat_flip)[-1]).flip(-1)[:, [0, 2, 1]]
            expected = (expected + flipped) * 0.5
        sampled = head.predict((feat, ), data_samples(2), dict(cfg, aux_readout=False, flip_test=False))
    for pred, exp in zip(preds, head.decode(expected)):
        np.testing.assert_allclose(pred.keypoints, exp.keypoints)
        np.testing.assert_allclose(pred.keypoint_scores, exp.keypoint_scores, rtol=1e-5)
        assert not pred.keypoint_spread.any()
    assert not np.allclose(sampled[0].keypoints, preds[0].keypoints)  # the denoiser predicts something else
    with pytest.raises(ValueError, match='aux_readout.*aux_loss'):
        build_head().predict((feat, ), data_samples(2), dict(cfg, flip_test=False))


def test_group_norm_keeps_noisy_path_samples_independent():
    """In training mode BatchNorm makes a sample's embedded heatmap depend on the other samples of the batch;
    GroupNorm does not."""
    x = torch.randn(4, 8, 8, 6)
    for norm, independent in ((dict(type='BN'), False), (dict(type='GN', num_groups=2), True)):
        down = build_head(heatmap_norm_cfg=norm).train().heatmap_down[0]
        alone, together = down(x[:1]), down(torch.cat([x[:1], 3 * x[1:] + 1]))[:1]
        assert torch.allclose(alone, together, atol=1e-5) == independent


@pytest.mark.parametrize('kwargs,match', [(dict(interaction='mask'), 'interaction'), (dict(num_scales=2), 'num_scales'),
                                          (dict(scale_fusion='max'), 'scale_fusion'),
                                          (dict(step_condition='none'), 'step_condition'),
                                          (dict(num_train_draws=0), 'num_train_draws'),
                                          (dict(self_align_prob=1.5), 'self_align_prob'),
                                          (dict(num_scales=1, **AUX), 'aux_loss.*num_scales=3'),
                                          (dict(detach_features=True), 'detach_features.*aux_loss')])
def test_invalid_variant_options_name_the_option(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_head(**kwargs)


def test_default_initialisation_is_heatmap_heads():
    """Without init_cfg the head is initialised like MMPose's HeatmapHead (N(0, 0.001) convolutions and
    deconvolutions, BatchNorm weight 1), and every step FiLM starts as the identity."""
    head = build_head(init_cfg=None, step_condition='all')
    for conv in (head.final_layer, head.heatmap_embed, head.feat_proj[1][0]):
        assert conv.weight.std().item() == pytest.approx(0.001, rel=0.2)
        if conv.bias is not None:
            assert torch.all(conv.bias == 0)
    assert torch.all(head.feat_proj[1][1].weight == 1)
    for film in [head.film] + list(head.interaction_films):
        assert torch.all(film[-1].weight == 0) and torch.all(film[-1].bias == 0)
    assert build_head().final_layer.weight.std().item() > 0.01  # init_cfg=[]: PyTorch's defaults


def test_default_init_cfg_is_heatmap_heads():
    from mmpose.models.heads import HeatmapHead
    assert build_head().default_init_cfg == HeatmapHead.default_init_cfg.fget(None)


# Pre-refactor outputs (before the shared Transformer builder, MMPose's nchw_to_nlc/nlc_to_nchw and the cached
# position encoding, issue 8): the same seed must give the same network, state-dict keys and outputs.
PINNED_DENOISE = [
    0.1351011, 0.263265, 0.3326741, -0.57534, -0.6344157, -0.6329191, -0.2726962, -0.3001597, 0.04881, 0.2461443,
    0.2650139, -0.5203815, -0.5712219, -0.6306512, -0.195283, -0.2595015
]
PINNED_FORWARD = [
    0.1322895, 0.2619133, 0.3316289, -0.5779765, -0.6370282, -0.6371303, -0.2717861, -0.3000721, 0.04446, 0.243314,
    0.2630564, -0.5179546, -0.5709248, -0.6318071, -0.1961613, -0.2567259
]


def test_outputs_match_pre_refactor_values():
    head = build_head(num_refine_layers=2)
    low = head.interactions[0]
    assert [k for k in head.state_dict() if k.startswith('interactions.0.refine.')][-2:] == \
        ['interactions.0.refine.norm.weight', 'interactions.0.refine.norm.bias']
    assert len(low.refine.layers) == 2 and len(low.interact.layers) == 2
    torch.manual_seed(1)
    feat = torch.randn(2, C, h, w)
    x_t = torch.randn(2, K, 16, 12)
    with torch.no_grad():
        out = head.denoise(head.feature_pyramid(feat), x_t, torch.tensor([3, 700]))
        head.test_cfg = dict(num_noise_groups=3, sampling_steps=3, seed=5)
        sampled = head((feat, ))
    torch.testing.assert_close(out.flatten()[::72], torch.tensor(PINNED_DENOISE), atol=1e-5, rtol=0)
    assert out.abs().sum().item() == pytest.approx(209.50875854492188, rel=1e-5)
    torch.testing.assert_close(sampled.flatten()[::72], torch.tensor(PINNED_FORWARD), atol=1e-5, rtol=0)
    assert sampled.abs().sum().item() == pytest.approx(209.13427734375, rel=1e-5)


def test_position_encoding_is_computed_once_per_size(monkeypatch):
    from diffpose_mm.models.utils import positional_encoding
    head = build_head()
    calls = []
    original = positional_encoding.sinusoidal_embedding
    monkeypatch.setattr(positional_encoding, 'sinusoidal_embedding',
                        lambda *args: calls.append(args[1]) or original(*args))
    positional_encoding.sine_pos_embed_2d.cache_clear()
    head.test_cfg = dict(num_noise_groups=2, sampling_steps=4, seed=0)
    with torch.no_grad():
        head((torch.randn(1, C, h, w), ))
        assert len(calls) == 2  # rows + columns, once for all 4 steps
        head((torch.randn(2, C, h, w), ))  # same size: cached
        assert len(calls) == 2
        feat = torch.randn(1, C, h + 1, w)  # a new size: computed once more
        head.denoise(head.feature_pyramid(feat), torch.randn(1, K, 4 * (h + 1), 4 * w), torch.tensor([5]))
        assert len(calls) == 4
    positional_encoding.sine_pos_embed_2d.cache_clear()


# ---------------------------------------------------------------------------------------------- issue 10: speed
def reference_denoise(head, feat, x_t, t, x_prev=None):
    """``DiffPoseHead.denoise`` as written before issue 10, from the same modules: the feature pyramid repeated
    for every group and the concatenations ``[A ⊙ F, F]`` fed whole to the fusion layers."""
    from diffpose_mm.models.utils import sine_pos_embed_2d
    groups = len(x_t) // len(feat)
    pyramid = [p.repeat_interleave(groups, dim=0) for p in head.feature_pyramid(feat)]
    if head.self_condition:
        x_t = torch.cat([x_t, torch.zeros_like(x_t) if x_prev is None else x_prev], dim=1)
    temb = head.time_embed(t)
    scale, shift = head.film(temb).chunk(2, dim=1)
    hm = head.heatmap_embed(x_t) * (1 + scale[..., None, None]) + shift[..., None, None]
    heatmaps = [hm]
    for down in head.heatmap_down:
        heatmaps.insert(0, down(heatmaps[0]))
    outputs = []
    for j, (inter, f, hmj) in enumerate(zip(head.interactions, pyramid, heatmaps)):
        if j == 0:
            hh, ww = f.shape[-2:]
            pos = sine_pos_embed_2d(hh, ww, f.shape[1], f.device)
            hm_tokens = inter.refine(inter.heatmap_embed(hmj.flatten(2).transpose(1, 2)) + pos)
            tokens = f.flatten(2).transpose(1, 2)
            if inter.interaction == 'lookup':
                hm_tokens = hm_tokens.max(dim=-1, keepdim=True).values.sigmoid() * tokens
            tokens = inter.interact(inter.fuse_embed(torch.cat([hm_tokens, tokens], dim=-1)) + pos)
            y = inter.out_proj(tokens).transpose(1, 2).reshape(len(tokens), -1, hh, ww)
        else:
            refined = inter.refine(hmj)
            looked_up = refined.max(dim=1, keepdim=True).values.sigmoid() * f \
                if inter.interaction == 'lookup' else refined
            y = inter.interact(torch.cat([looked_up, f], dim=1))
        if head.interaction_films is not None:
            s, b = head.interaction_films[j](temb).chunk(2, dim=1)
            y = y * (1 + s[..., None, None]) + b[..., None, None]
        if y.shape[-2:] != hm.shape[-2:]:
            y = F.interpolate(y, size=hm.shape[-2:], mode='bilinear', align_corners=False)
        outputs.append(y)
    fused = head.scale_fusion(torch.cat(outputs, dim=1)) if head.scale_fusion is not None else sum(outputs)
    return head.final_layer(fused)


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(interaction='concat'),
    dict(num_scales=1),
    dict(scale_fusion='concat', step_condition='all'),
    dict(self_condition=True),
])
@pytest.mark.parametrize('training', [False, True])
def test_feature_terms_once_per_person_give_the_same_denoising(kwargs, training):
    """The feature pyramid and the feature halves of the fusion layers, computed once per person and broadcast
    over G groups, give what the per-group computation gave (BN in training mode sees the same batch)."""
    head = build_head(**kwargs).train(training)
    torch.manual_seed(2)
    feat, x_t = torch.randn(2, C, h, w), torch.randn(6, K, 16, 12)  # 2 persons x 3 groups
    t = torch.tensor([999, 999, 999, 10, 500, 999])
    x_prev = torch.rand(6, K, 16, 12) if kwargs.get('self_condition') else None
    with torch.no_grad():
        out = head.denoise(head.condition(feat), x_t, t, x_prev)
        ref = reference_denoise(head, feat, x_t, t, x_prev)
        from_pyramid = head.denoise(head.feature_pyramid(feat), x_t, t, x_prev)  # probe_denoising.py's call
    assert out.shape == (6, K, 16, 12) and out.is_contiguous()
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(from_pyramid, out, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match='groups per condition'):
        head.denoise(head.condition(feat), x_t[:5], t[:5])


@pytest.mark.parametrize('eta', [0., 1.])
@pytest.mark.parametrize('kwargs', [dict(), dict(self_condition=True)])
def test_flip_pair_in_one_batch_equals_two_seeded_passes(eta, kwargs):
    head = build_head(**kwargs)
    torch.manual_seed(4)
    feat, feat_flip = torch.randn(2, C, h, w), torch.randn(2, C, h, w)
    calls = []
    denoise = head.denoise
    head.denoise = lambda cond, x_t, t, x_prev: calls.append(len(x_t)) or denoise(cond, x_t, t, x_prev)
    with torch.no_grad():
        plain = head.sample(feat, 3, 3, eta, torch.Generator().manual_seed(11))
        flip = head.sample(feat_flip, 3, 3, eta, torch.Generator().manual_seed(11))
        assert calls == [6] * 6
        calls.clear()
        pair = head.sample_flip_pair(feat, feat_flip, 3, 3, eta, seed=11)
    assert calls == [12] * 3  # one forward of both passes per step
    torch.testing.assert_close(pair[0], plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(pair[1], flip, atol=1e-5, rtol=0)
    assert not torch.allclose(pair[0], pair[1], atol=1e-3)


def test_state_dict_keys_are_unchanged():
    """Checkpoints trained before issue 10 load: the head's keys (and shapes) are those of the former layers."""
    head = build_head()
    sd = head.state_dict()
    assert 'interactions.0.fuse_embed.weight' in sd and sd['interactions.0.fuse_embed.weight'].shape == (16, 32)
    assert sd['interactions.1.interact.0.conv.weight'].shape == (8, 16, 3, 3)
    assert [k for k in sd if k.startswith('interactions.0.refine.layers.0.')] == [
        f'interactions.0.refine.layers.0.{n}'
        for n in ('self_attn.in_proj_weight', 'self_attn.in_proj_bias', 'self_attn.out_proj.weight',
                  'self_attn.out_proj.bias', 'linear1.weight', 'linear1.bias', 'linear2.weight', 'linear2.bias',
                  'norm1.weight', 'norm1.bias', 'norm2.weight', 'norm2.bias')
    ]
    # the key list of the whole head, pinned before issue 10 (sha1 of 'key shape' lines)
    import hashlib
    lines = '\n'.join(f'{k} {tuple(v.shape)}' for k, v in sd.items())
    assert len(sd) == 126 and hashlib.sha1(lines.encode()).hexdigest() == PINNED_STATE_DICT_SHA1


PINNED_STATE_DICT_SHA1 = 'c8897cb1c5a6356cb9d1f0248909297daace1cbb'

# predict() of the tiny config's model (PyTorch init, final bias 0.5 so heatmaps have positive peaks, the
# head the config had then: scale 0.1, normalised input, sum fusion, no aux_loss), flip test, N=4, 3 steps, seed 7,
# before issue 10
PINNED_TINY_KEYPOINT_SUM = 6284.0
PINNED_TINY_KEYPOINTS = [92.0, 101.0, 49.0, 124.0, 75.0, 4.0, 41.0, 59.0, 41.0, 124.0, 0.0, 9.0, 49.0, 124.0, 40.0]
PINNED_TINY_SCORES = [
    0.755057, 0.575963, 0.800803, 0.681524, 1.124902, 0.74949, 0.890241, 0.360966, 0.702766, 1.0445, 0.675015
]
PINNED_TINY_SPREAD_SUM = 60.66597366333008


def test_tiny_model_predictions_match_pre_issue10_values(load_tool):
    from pathlib import Path

    from mmengine.config import Config
    REPO = Path(__file__).resolve().parents[3]
    bench = load_tool('tools/analysis/benchmark_inference.py')
    cfg = Config.fromfile(str(REPO / 'configs/diffpose/td-diffpose_res18-tiny_1xb16-18e_synthetic-128x96.py'))
    cfg.model.head.init_cfg = []
    cfg.model.head.diffusion.update(signal_scale=0.1, input_mode='normalize')
    cfg.model.head.update(scale_fusion='sum', aux_loss=None)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval().head.final_layer.bias.data.fill_(0.5)
    torch.manual_seed(1)
    inputs, samples = bench.make_inputs(model, 3, torch.device('cpu'))
    model.test_cfg.update(num_noise_groups=4, sampling_steps=3, seed=7)
    with torch.no_grad():
        out = model.predict(inputs, samples)
    kpts = np.stack([o.pred_instances.keypoints for o in out])
    scores = np.stack([o.pred_instances.keypoint_scores for o in out])
    spread = np.stack([o.pred_instances.keypoint_spread for o in out])
    assert kpts.sum() == pytest.approx(PINNED_TINY_KEYPOINT_SUM, abs=1e-5)
    np.testing.assert_allclose(kpts.reshape(-1)[::7], PINNED_TINY_KEYPOINTS, atol=1e-5, rtol=0)
    np.testing.assert_allclose(scores.reshape(-1)[::5], PINNED_TINY_SCORES, atol=1e-5, rtol=0)
    assert spread.sum() == pytest.approx(PINNED_TINY_SPREAD_SUM, abs=1e-4) and (spread > 0).sum() == 10
