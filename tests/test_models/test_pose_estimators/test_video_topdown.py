import logging
import time

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData, PixelData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

import diffpose_mm  # noqa: F401  (registers the modules)


@pytest.fixture(autouse=True)
def mmpose_scope():
    """Build from MMPose's registries whatever default scope earlier tests left behind."""
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


K = 3
TINY_RESNET = dict(type='ResNet', depth=18, stem_channels=8, base_channels=8, num_stages=2, strides=(1, 2),
                   dilations=(1, 1), out_indices=(1, ))  # stride 8, 16 channels
HEATMAP_HEAD = dict(type='HeatmapHead', in_channels=16, out_channels=K, deconv_out_channels=(8, 8),
                    deconv_kernel_sizes=(4, 4), decoder=dict(type='MSRAHeatmap', input_size=(32, 32),
                                                             heatmap_size=(16, 16), sigma=1))


@pytest.fixture(autouse=True)
def quiet_init_logs():
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights() logs every parameter at INFO
    yield
    logger.setLevel(level)


def build(type, **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(type=type, **kwargs))
    model.init_weights()
    return model


def samples(B, size=32, heatmaps=None, keypoints=None):
    out = []
    for b in range(B):
        ds = PoseDataSample(
            metainfo=dict(
                input_size=(size, size), input_center=np.array([size / 2, size / 2]), input_scale=np.array(
                    [size, size], dtype=np.float32), flip_indices=list(range(K))))
        ds.gt_instances = InstanceData(bboxes=np.zeros((1, 4)), bbox_scores=np.ones(1))
        if heatmaps is not None:
            ds.gt_fields = PixelData(heatmaps=heatmaps[b])
            ds.gt_instance_labels = InstanceData(keypoint_weights=torch.ones(1, K))
        out.append(ds)
    return out


@pytest.mark.parametrize('head', [HEATMAP_HEAD, None])
def test_single_frame_equivalence_with_topdown_estimator(head):
    """T = 1 without a neck behaves exactly like MMPose's TopdownPoseEstimator with the same weights."""
    head = head or dict(type='DiffPoseHead', in_channels=16, out_channels=K, feat_channels=(16, 8, 8),
                        heatmap_channels=8, time_embed_dims=8, num_heads=2, decoder=HEATMAP_HEAD['decoder'])
    test_cfg = dict(flip_test=True, shift_heatmap=False, num_noise_groups=2, sampling_steps=2, seed=3)
    image = build('TopdownPoseEstimator', backbone=TINY_RESNET, head=head, test_cfg=test_cfg).eval()
    video = build('VideoTopdownPoseEstimator', backbone=TINY_RESNET, head=head, test_cfg=test_cfg).eval()
    video.load_state_dict(image.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = image(x, None, mode='tensor')
        assert torch.allclose(video(x, None, mode='tensor'), ref)
        assert torch.allclose(video(x[:, None], None, mode='tensor'), ref)  # (B, 1, 3, H, W) clips
        p_img = image.predict(x, samples(2))
        p_vid = video.predict(x[:, None], samples(2))
    for a, b in zip(p_img, p_vid):
        np.testing.assert_allclose(a.pred_instances.keypoints, b.pred_instances.keypoints)
        np.testing.assert_allclose(a.pred_instances.keypoint_scores, b.pred_instances.keypoint_scores)
    torch.manual_seed(1)
    gt = torch.rand(2, K, 16, 16)
    image.train(), video.train()
    torch.manual_seed(2)
    l_img = image.loss(x, samples(2, heatmaps=gt))
    torch.manual_seed(2)
    l_vid = video.loss(x[:, None], samples(2, heatmaps=gt))
    assert l_img['loss_kpt'].item() == pytest.approx(l_vid['loss_kpt'].item(), rel=1e-6)


def video_model(backbone=TINY_RESNET, in_channels=16, feat_size=(4, 4), num_frames=3, test_cfg=None, width=16):
    return build(
        'VideoTopdownPoseEstimator', backbone=backbone,
        neck=dict(type='STRLNeck', in_channels=in_channels, num_frames=num_frames, feat_size=feat_size,
                  embed_dims=width, num_layers=1, num_heads=2, mlp_ratio=2), head=dict(
                      type='DiffPoseHead', in_channels=width, out_channels=K,
                      feat_channels=(width, width // 2, width // 2), heatmap_channels=width // 2, time_embed_dims=8,
                      num_heads=2, decoder=dict(type='MSRAHeatmap', input_size=(feat_size[1] * 8, feat_size[0] * 8),
                                                heatmap_size=(feat_size[1] * 4, feat_size[0] * 4), sigma=1)),
        test_cfg=test_cfg or dict(num_noise_groups=2, sampling_steps=1, seed=0))


def test_frames_are_folded_into_the_batch_and_fused_by_the_neck():
    model = video_model().eval()
    x = torch.randn(2, 3, 3, 32, 32)
    seen = []
    neck_forward = model.neck.forward
    model.neck.forward = lambda feats: seen.append(feats) or neck_forward(feats)
    with torch.no_grad():
        (feat, ) = model.extract_feat(x)
        per_frame = torch.stack([model.backbone(x[:, i])[-1] for i in range(3)], dim=1)
    assert feat.shape == (2, 16, 4, 4)
    assert torch.allclose(seen[0][-1], per_frame, atol=1e-6)  # (B, T, C, h, w), frame i of sample b
    # the key-frame output depends on every frame (temporal fusion), and on each sample's own frames only
    x2 = x.clone()
    x2[1, 0] += 1
    with torch.no_grad():
        feat2 = model.extract_feat(x2)[0]
    assert torch.allclose(feat2[0], feat[0], atol=1e-6) and not torch.allclose(feat2[1], feat[1], atol=1e-4)


def test_any_backbone_per_frame_vit():
    """The paper's backbone family: mmpretrain's VisionTransformer with ViTPose settings (tiny widths)."""
    vit = dict(type='mmpretrain.VisionTransformer', arch=dict(embed_dims=16, num_layers=1, num_heads=2,
                                                              feedforward_channels=32), img_size=(64, 48),
               patch_size=16, qkv_bias=True, with_cls_token=False, out_type='featmap', patch_cfg=dict(padding=2))
    model = video_model(backbone=vit, feat_size=(4, 3), num_frames=5, test_cfg=dict(flip_test=True, num_noise_groups=2,
                                                                                    sampling_steps=2, seed=0))
    x = torch.randn(2, 5, 3, 64, 48)
    gt = torch.rand(2, K, 16, 12)
    losses = model.loss(x, samples(2, size=0, heatmaps=gt))
    assert torch.isfinite(losses['loss_kpt'])
    model.eval()
    seen = []
    head_predict = model.head.predict
    model.head.predict = lambda feats, *a, **kw: seen.append(feats) or head_predict(feats, *a, **kw)
    with torch.no_grad():
        out = model.predict(x, samples(2, size=48))
        flipped = model.extract_feat(x.flip(-1))[0]
    assert isinstance(seen[0], list) and torch.allclose(seen[0][1][0], flipped)  # flip test: [feats, feats_flip]
    assert out[0].pred_instances.keypoints.shape == (1, K, 2)


def test_bad_inputs_raise_clear_errors():
    no_neck = build('VideoTopdownPoseEstimator', backbone=TINY_RESNET, head=HEATMAP_HEAD)
    with pytest.raises(ValueError, match='no neck'):
        no_neck.extract_feat(torch.randn(1, 3, 3, 32, 32))
    with pytest.raises(ValueError, match=r'\(B, T, 3, H, W\)'):
        no_neck.extract_feat(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match='num_frames=3'):
        video_model().extract_feat(torch.randn(1, 5, 3, 32, 32))


def test_head_shares_the_estimator_test_cfg():
    """One dict holds the sampling settings: a change of model.test_cfg reaches head.forward too."""
    model = video_model(test_cfg=dict(num_noise_groups=1, sampling_steps=2, seed=0)).eval()
    assert model.head.test_cfg is model.test_cfg
    no_cfg = build('VideoTopdownPoseEstimator', backbone=TINY_RESNET, head=HEATMAP_HEAD)  # test_cfg=None -> {}
    assert no_cfg.head.test_cfg is no_cfg.test_cfg == {}
    steps = []
    denoise = model.head.denoise
    model.head.denoise = lambda pyr, x_t, t, x_prev: steps.append(t[0].item()) or denoise(pyr, x_t, t, x_prev)
    x = torch.randn(1, 3, 3, 32, 32)
    with torch.no_grad():
        model(x, None, mode='tensor')
        assert len(steps) == 2
        steps.clear()
        model.test_cfg['sampling_steps'] = 1
        model(x, None, mode='tensor')
    assert len(steps) == 1


def blob_batch(B, rng, T=3, S=32, HM=16):
    """Clips of noisy images with a coloured blob per keypoint (jittering across frames) and GT heatmaps."""
    kpts = rng.uniform(4, S - 4, size=(B, K, 2))
    yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing='ij')
    imgs = 0.1 * torch.from_numpy(rng.standard_normal((B, T, 3, S, S))).float()
    for b in range(B):
        for f in range(T):
            for k in range(K):
                x, y = kpts[b, k] + rng.normal(0, 0.5, 2)
                imgs[b, f, k] += torch.exp(-((xx - x)**2 + (yy - y)**2) / (2 * 1.5**2))
    hy, hx = torch.meshgrid(torch.arange(HM), torch.arange(HM), indexing='ij')
    c = torch.from_numpy(kpts * HM / S).float()
    heatmaps = torch.exp(-((hx - c[..., 0, None, None])**2 + (hy - c[..., 1, None, None])**2) / 2)
    return imgs, samples(B, S, heatmaps), kpts


def test_tiny_diffpose_learns_blob_keypoints():
    """Learning test: loss falls and PCK (3 px on a 32 px input) rises after ~80 steps on synthetic clips."""
    torch.manual_seed(0)
    model = video_model(
        dict(TINY_RESNET, stem_channels=16, base_channels=16), in_channels=32, width=32,
        test_cfg=dict(num_noise_groups=2, sampling_steps=1, seed=0))
    val_x, val_samples, val_kpts = blob_batch(24, np.random.default_rng(123))

    def pck():
        model.eval()
        with torch.no_grad():
            out = model.predict(val_x, val_samples)
        pred = np.stack([o.pred_instances.keypoints[0] for o in out])
        return float((np.linalg.norm(pred - val_kpts, axis=-1) < 3).mean())

    rng = np.random.default_rng(0)
    before = pck()
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    losses = []
    start = time.time()
    for _ in range(80):
        model.train()
        x, s, _ = blob_batch(16, rng)
        loss = model.loss(x, s)['loss_kpt']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    after = pck()
    # (the head starts near zero output, HeatmapHead's initialisation, so the first losses are already those of
    # an empty heatmap: halving them means the blobs are found)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5]), losses
    assert before < 0.2 and after > 0.6 and after > before + 0.4, (before, after)
    print(f'PCK before {before:.3f} after {after:.3f}, {time.time() - start:.1f} s')
