"""DiffPose3DHead in MMPose's PoseLifter: losses, sampling, spread, flip test, priors and learning."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from diffpose_mm.models.backbones import LiftingContext

TEST_DATA = Path(__file__).resolve().parents[2] / 'data'  # tests/data (MMPose fixtures)

FLIP = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]
CODEC = dict(type='VideoPoseLifting', num_keypoints=17, zero_center=True, root_index=0, reshape_keypoints=False)


@pytest.fixture(autouse=True)
def _scope(mmpose_scope):
    pass


def lifter(prior='gmm', use_context=True, **test_cfg):
    """A small PoseLifter with the DiffPose-3D encoder and head."""
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='PoseLifter',
            backbone=dict(type='DiffPoseContextEncoder', context_channels=8, stem_channels=32, dropout=0.), head=dict(
                type='DiffPose3DHead', context_channels=8, use_context=use_context,
                denoiser=dict(type='PoseGraphDenoiser', embed_dims=32, num_layers=2, num_heads=4, time_embed_dims=8),
                prior=dict(type='KeypointGMMPrior', mode=prior), diffusion=dict(num_timesteps=20), decoder=CODEC),
            test_cfg=dict(dict(num_noise_groups=4, sampling_steps=3, seed=0), **test_cfg)))


def gmm_of(kpts: torch.Tensor, sigma: float = 0.01) -> np.ndarray:
    """(K, 5, 5) mixtures: the detection (0.8), its left/right swap (0.2)."""
    g = np.zeros((17, 5, 5), np.float32)
    g[:, :, 3:] = sigma
    g[:, 0, 0], g[:, 1, 0] = 0.8, 0.2
    g[:, 0, 1:3] = kpts.numpy()
    g[:, 1, 1:3] = kpts.numpy()[FLIP]
    return g


def data_samples(kpts: torch.Tensor, targets: torch.Tensor = None, root=(0.1, -0.2, 5.0)):
    out = []
    for i in range(len(kpts)):
        d = PoseDataSample(
            metainfo=dict(flip_indices=FLIP, target_root=np.array([root], np.float32), keypoint_gmm=gmm_of(kpts[i, 0])))
        y = torch.zeros(1, 17, 3) if targets is None else targets[i:i + 1]
        d.gt_instance_labels = InstanceData(lifting_target_label=y, lifting_target_weight=torch.ones(1, 17))
        out.append(d)
    return out


def mirror(kpts: torch.Tensor) -> torch.Tensor:
    out = kpts[..., FLIP, :].clone()
    out[..., 0] = -out[..., 0]
    return out


def test_losses_are_the_documented_quantities():
    model = lifter()
    x = torch.randn(6, 1, 17, 2) * 0.2
    y = torch.randn(6, 17, 3) * 0.3
    losses = model.loss(x, data_samples(x, y))
    assert set(losses) == {'loss_pose', 'loss_uv', 'loss_init', 'loss_init_nll', 'mpjpe_init'}
    ctx = model.extract_feat(x)
    mpjpe_init = (ctx.init_pose - y).norm(dim=-1).mean()
    assert losses['loss_init'].item() == pytest.approx(mpjpe_init.item(), rel=1e-5)
    sigma = ctx.init_log_sigma.exp()
    nll = (0.5 * ((y - ctx.init_pose) / sigma)**2 + ctx.init_log_sigma).mean()
    assert losses['loss_init_nll'].item() == pytest.approx(0.1 * nll.item(), rel=1e-5)
    # the denoiser starts as the identity on the base: its first pose loss is the initial pose's error
    assert losses['loss_pose'].item() == pytest.approx(mpjpe_init.item(), rel=1e-5)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert model.head.denoiser.out.weight.grad.abs().sum() > 0
    assert model.backbone.pose_out.weight.grad.abs().sum() > 0


def test_predict_hypotheses_spread_root_and_seed():
    model = lifter(output_hypotheses=True)
    model.eval()
    torch.nn.init.normal_(model.head.denoiser.out.weight, std=0.1)  # a denoiser that does something
    x = torch.randn(3, 1, 17, 2) * 0.2
    with torch.no_grad():
        preds = model.predict(x, data_samples(x))
    p = preds[0].pred_instances
    assert p.keypoints.shape == (1, 17, 3) and p.keypoint_scores.shape == (1, 17)
    assert p.keypoint_spread.shape == (1, 17) and p.keypoint_hypotheses.shape == (1, 4, 17, 3)
    hyps = p.keypoint_hypotheses[0]
    assert np.allclose(hyps.mean(0), p.keypoints[0], atol=1e-5)
    spread = np.sqrt(((hyps - hyps.mean(0))**2).sum(-1).mean(0))
    assert np.allclose(p.keypoint_spread[0], spread, atol=1e-5) and (spread > 0).all()
    # N = 1: no spread; a fixed seed repeats, another seed differs
    model.test_cfg.update(num_noise_groups=1)
    with torch.no_grad():
        one = model.predict(x, data_samples(x))[0].pred_instances
        again = model.predict(x, data_samples(x))[0].pred_instances
        model.test_cfg['seed'] = 1
        other = model.predict(x, data_samples(x))[0].pred_instances
    assert np.all(one.keypoint_spread == 0) and np.array_equal(one.keypoints, again.keypoints)
    assert not np.allclose(one.keypoints, other.keypoints)
    # init_pose_only: the encoder's pose with the root added back (VideoPoseLifting.decode)
    model.test_cfg.update(init_pose_only=True)
    with torch.no_grad():
        init = model.predict(x, data_samples(x))[0].pred_instances.keypoints
        expected = model.extract_feat(x).init_pose[0] + torch.tensor([0.1, -0.2, 5.0])
    assert np.allclose(init[0], expected.numpy(), atol=1e-6)


def test_flip_test_is_mirror_equivariant():
    """With flip test, the prediction of a mirrored input (and mirrored mixtures) is the mirrored prediction.
    (PoseLifter flips its inputs in place: every call gets a copy.)"""
    model = lifter(flip_test=True)
    model.eval()
    torch.nn.init.normal_(model.head.denoiser.out.weight, std=0.1)
    x = torch.randn(2, 1, 17, 2) * 0.2
    with torch.no_grad():
        a = np.stack([d.pred_instances.keypoints[0] for d in model.predict(x.clone(), data_samples(x, root=(0, 0, 0)))])
        b = np.stack(
            [d.pred_instances.keypoints[0] for d in model.predict(mirror(x), data_samples(mirror(x), root=(0, 0, 0)))])
    assert np.allclose(mirror(torch.from_numpy(b)).numpy(), a, atol=1e-5)
    model.test_cfg['flip_test'] = False
    with torch.no_grad():
        c = np.stack([d.pred_instances.keypoints[0] for d in model.predict(x.clone(), data_samples(x, root=(0, 0, 0)))])
    assert not np.allclose(a, c)


def test_gaussian_prior_and_context_switch():
    x = torch.randn(2, 1, 17, 2) * 0.2
    for prior in ('gmm', 'gaussian'):
        model = lifter(prior=prior, use_context=False)
        ctx = model.extract_feat(x)
        other = LiftingContext(ctx.context + 1, ctx.init_pose, ctx.init_log_sigma, ctx.keypoints)
        torch.nn.init.normal_(model.head.denoiser.out.weight, std=0.1)
        gmm = torch.from_numpy(np.stack([gmm_of(x[i, 0]) for i in range(2)]))
        with torch.no_grad():
            a = model.head.sample_hypotheses(ctx, gmm, 2, 2, 1.0, torch.Generator().manual_seed(0))
            b = model.head.sample_hypotheses(other, gmm, 2, 2, 1.0, torch.Generator().manual_seed(0))
        assert torch.equal(a, b), 'use_context=False must ignore the context'
        model.head.use_context = True
        with torch.no_grad():
            c = model.head.sample_hypotheses(other, gmm, 2, 2, 1.0, torch.Generator().manual_seed(0))
        assert not torch.allclose(a, c)
        assert model.head.forward(ctx).shape == (2, 17, 3)


def test_configuration_errors_are_explicit():
    model = lifter()
    with pytest.raises(TypeError, match='LiftingContext'):
        model.head.predict((torch.zeros(1, 8, 1), ), [])
    with pytest.raises(ValueError, match='context_channels'):
        model.head.loss(
            LiftingContext(torch.zeros(1, 17, 4), torch.zeros(1, 17, 3), torch.zeros(1, 17, 3), torch.zeros(1, 17, 2)),
            [])
    with pytest.raises(ValueError, match='loss_weights'):
        MODELS.build(dict(type='DiffPose3DHead', loss_weights=dict(pos=1.)))


def test_learns_to_lift_small_synthetic_data(tmp_path):
    """Trained for 150 iterations on a few hundred synthetic frames, the lifter's test error falls well below
    that of the untrained model and of the mean pose."""
    from diffpose_mm.datasets.keypoint_gmm import load_keypoint_gmm, normalize_keypoint_gmm
    from diffpose_mm.testing import make_synthetic_h36m
    make_synthetic_h36m(
        str(tmp_path), seed=0, train_subjects=('S1', 'S5'), test_subjects=('S9', ), actions=('Walking', 'Reaching'),
        train_subactions=1, frames=50, camera_file=str(TEST_DATA / 'h36m' / 'cameras.pkl'))

    def split(name):
        ann = np.load(tmp_path / f'annotation_body3d/fps50/h36m_{name}.npz')
        det = np.load(tmp_path / f'joint_2d_det_files/synthetic_det_{name}.npy')
        gmm = load_keypoint_gmm(str(tmp_path / f'joint_2d_det_files/synthetic_det_{name}_gmm.npz'))['gmm']
        x = torch.tensor((det[..., :2] - [500, 501]) / 500, dtype=torch.float32)[:, None]
        S = ann['S'][..., :3]
        return x, torch.tensor(S - S[:, :1], dtype=torch.float32), normalize_keypoint_gmm(gmm, 1000, 1002)

    xtr, ytr, gtr = split('train')
    xte, yte, gte = split('test')

    def samples(x, y, g, idx):
        out = data_samples(x[idx], y[idx], root=(0, 0, 0))
        for d, i in zip(out, idx):
            d.set_metainfo(dict(keypoint_gmm=g[i]))
        return out

    def test_error(model):
        model.eval()
        with torch.no_grad():
            preds = model.predict(xte, samples(xte, yte, gte, range(len(xte))))
        pred = np.stack([d.pred_instances.keypoints[0] for d in preds])
        return np.linalg.norm(pred - yte.numpy(), axis=-1).mean()

    model = lifter(num_noise_groups=2, sampling_steps=2)
    before = test_error(model)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        idx = torch.randint(0, len(xtr), (64, ), generator=g).tolist()
        model.train()
        losses = model.loss(xtr[idx], samples(xtr, ytr, gtr, idx))
        opt.zero_grad()
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        opt.step()
    after = test_error(model)
    mean_pose = np.linalg.norm(ytr.mean(0, keepdim=True).numpy() - yte.numpy(), axis=-1).mean()
    assert after < 0.65 * before and after < 0.75 * mean_pose, (before, after, mean_pose)


def test_denoiser_sees_the_offset_from_the_initial_pose_in_prior_units():
    """A state ``base + s·z`` reaches the denoiser as ``z`` (the GMM prior's scale ``s``; the standard prior's
    ``pose_scale / signal_scale``), and its output is a correction of the base."""
    head = lifter().head
    seen = {}

    def spy(x, t, cond):
        seen['x'], seen['cond'] = x, cond
        return torch.ones_like(x) * 0.01

    head.denoiser.forward = spy
    base = torch.randn(2, 17, 5) * 0.3
    scale = torch.rand(2, 17, 5) * 0.1 + 0.01
    z = torch.randn(2, 17, 5)
    out = head.denoise(head._to_data(base + scale * z), torch.tensor([3, 7]), base, base, scale, torch.zeros(2, 17, 8))
    assert torch.allclose(seen['x'], z, atol=1e-4)
    assert torch.allclose(out, base + 2.0 * 0.01)  # pose_scale 2
    assert torch.allclose(seen['cond'][..., 10:15], (scale / 2.0).log())
    head.denoise(head._to_data(base + 2.0 * z), torch.tensor([3, 7]), base, None, None, torch.zeros(2, 17, 8))
    assert torch.allclose(seen['x'], z, atol=1e-4) and torch.equal(seen['cond'][..., 5:15], torch.zeros(2, 17, 10))
