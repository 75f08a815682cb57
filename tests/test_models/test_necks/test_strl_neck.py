import pytest
import torch
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS
from torch import nn
from torch.nn import functional as F

import diffpose_mm  # noqa: F401  (registers the modules)


@pytest.fixture(autouse=True)
def mmpose_scope():
    """Build from MMPose's registries whatever default scope earlier tests left behind."""
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


def build_neck(**kwargs):
    cfg = dict(type='STRLNeck', in_channels=6, num_frames=3, feat_size=(4, 3), embed_dims=16, num_layers=2, num_heads=4,
               mlp_ratio=2.)
    cfg.update(kwargs)
    neck = MODELS.build(cfg)
    neck.init_weights()
    return neck.eval()


def test_output_and_init():
    torch.manual_seed(0)
    neck = build_neck()
    assert torch.allclose(neck.temporal_mlp.weight, torch.full((1, 3), 1 / 3))  # starts as a temporal mean
    assert neck.pos_embed.shape == (1, 3 * 4 * 3, 16) and neck.pos_embed.std() > 0
    x = torch.randn(2, 3, 6, 4, 3)
    (out, ) = neck((x, ))
    assert out.shape == (2, 16, 4, 3) and torch.isfinite(out).all()
    # a bare tensor and a multi-level tuple (last level used) give the same result
    assert torch.allclose(neck(x)[0], out)
    assert torch.allclose(neck((torch.randn(2, 3, 6, 8, 6), x))[0], out)


def test_token_layout_without_attention():
    """With the Transformer removed, zero position embedding and a one-hot temporal MLP, the output at every
    location must be LN(patch_embed(frame j)) at that location: checks the frame/location bookkeeping."""
    torch.manual_seed(0)
    neck = build_neck()
    neck.encoder = nn.Identity()
    with torch.no_grad():
        neck.pos_embed.zero_()
        neck.temporal_mlp.weight.copy_(torch.tensor([[0., 0., 1.]]))
    x = torch.randn(2, 3, 6, 4, 3)
    (out, ) = neck(x)
    expected = neck.norm(neck.patch_embed(x[:, 2]).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    assert torch.allclose(out, expected, atol=1e-5)
    # frames the MLP ignores have no influence without attention...
    x2 = x.clone()
    x2[:, 0] += 5
    assert torch.allclose(neck(x2)[0], out, atol=1e-5)


def test_attention_mixes_frames_and_position_embedding_orders_them():
    torch.manual_seed(0)
    neck = build_neck()
    with torch.no_grad():
        neck.temporal_mlp.weight.copy_(torch.tensor([[0., 0., 1.]]))
    x = torch.randn(2, 3, 6, 4, 3)
    out = neck(x)[0]
    x2 = x.clone()
    x2[:, 0] += 5
    # ...but with the Transformer the key-frame output does depend on the other frames
    assert (neck(x2)[0] - out).abs().max() > 1e-3
    # the encoder is permutation-equivariant: without position embedding and with a symmetric (mean) temporal
    # MLP, reversing the frames changes nothing; the learned per-frame position embedding breaks this symmetry
    with torch.no_grad():
        neck.temporal_mlp.weight.fill_(1 / 3)
    with_pos = neck(x)[0], neck(x.flip(1))[0]
    assert (with_pos[0] - with_pos[1]).abs().max() > 1e-3
    with torch.no_grad():
        neck.pos_embed.zero_()
    assert torch.allclose(neck(x)[0], neck(x.flip(1))[0], atol=1e-5)


def test_gradients_reach_all_parameters():
    neck = build_neck().train()
    out = neck(torch.randn(2, 3, 6, 4, 3))[0]
    F.mse_loss(out, torch.randn_like(out)).backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_single_frame_neck():
    neck = build_neck(num_frames=1)
    assert neck(torch.randn(2, 1, 6, 4, 3))[0].shape == (2, 16, 4, 3)


def test_bad_inputs_raise_clear_errors():
    neck = build_neck()
    with pytest.raises(ValueError, match=r'\(B, T, C, h, w\)'):
        neck(torch.randn(2, 6, 4, 3))
    with pytest.raises(ValueError, match='num_frames=3'):
        neck(torch.randn(2, 5, 6, 4, 3))
    with pytest.raises(ValueError, match='feat_size'):
        neck(torch.randn(2, 3, 6, 8, 6))
    with pytest.raises(ValueError, match='in_channels'):
        neck(torch.randn(2, 3, 7, 4, 3))
    with pytest.raises(ValueError, match='num_heads'):
        build_neck(embed_dims=18, num_heads=4)
    with pytest.raises(ValueError, match='feat_size'):
        build_neck(feat_size=(4, ))


# Pre-refactor output (before the shared Transformer builder and MMPose's nchw_to_nlc/nlc_to_nchw, issue 8):
# the same seed must give the same network, state-dict keys and output.
PINNED_OUT = [-0.3844285, 1.6275632, -0.094773, -0.3379051, -0.8385873, 1.4398053, -0.1906052, 0.5356646]


def test_output_matches_pre_refactor_values():
    torch.manual_seed(0)
    neck = build_neck()
    keys = list(neck.state_dict())
    assert keys[:3] == ['pos_embed', 'patch_embed.weight', 'patch_embed.bias']
    assert keys[-4:] == ['norm.weight', 'norm.bias', 'temporal_mlp.weight', 'temporal_mlp.bias']
    assert 'encoder.layers.1.self_attn.in_proj_weight' in keys and neck.encoder.norm is None
    torch.manual_seed(1)
    x = torch.randn(2, 3, 6, 4, 3)
    with torch.no_grad():
        (out, ) = neck((x, ))
    torch.testing.assert_close(out.flatten()[::48], torch.tensor(PINNED_OUT), atol=1e-5, rtol=0)
    assert out.abs().sum().item() == pytest.approx(249.03799438476562, rel=1e-5)
