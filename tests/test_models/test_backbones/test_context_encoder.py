"""DiffPoseContextEncoder: MMPose's TCN read out per joint, frame and sequence variants."""
import pytest
import torch

from diffpose_mm.models.backbones import DiffPoseContextEncoder, LiftingContext
from diffpose_mm.models.backbones.context_encoder import H36M_POSE_MEAN, H36M_POSE_STD


def test_frame_variant_outputs_and_layouts():
    torch.manual_seed(0)
    enc = DiffPoseContextEncoder(context_channels=8, stem_channels=32)
    enc.eval()
    x = torch.randn(4, 1, 17, 2)
    out = enc(x)
    assert isinstance(out, LiftingContext)
    assert out.context.shape == (4, 17, 8) and out.init_pose.shape == (4, 17, 3)
    assert out.init_log_sigma.shape == (4, 17, 3) and torch.equal(out.keypoints, x[:, 0])
    # VideoPoseLifting(reshape_keypoints=True) layout (B, K * C, T) gives the same result
    flat = x.permute(0, 2, 3, 1).reshape(4, 34, 1)
    assert torch.allclose(enc(flat).init_pose, out.init_pose, atol=1e-6)
    # the initial pose is Human3.6M's mean pose plus the output scaled by its per-joint std
    torch.nn.init.zeros_(enc.pose_out.weight)
    torch.nn.init.ones_(enc.pose_out.bias)
    assert torch.allclose(enc(x).init_pose, torch.tensor(H36M_POSE_MEAN) + torch.tensor(H36M_POSE_STD))
    assert torch.allclose(out.init_log_sigma, torch.full_like(out.init_log_sigma, -2.3))


@pytest.mark.parametrize('causal,target', [(False, 13), (True, 26)])
def test_sequence_variant_reads_the_target_frame(causal, target):
    enc = DiffPoseContextEncoder(context_channels=8, stem_channels=32, kernel_sizes=(3, 3, 3), causal=causal,
                                 use_stride_conv=True)
    enc.eval()
    assert enc.receptive_field == 27 and enc.causal is causal
    x = torch.randn(2, 27, 17, 2)
    out = enc(x)
    assert torch.equal(out.keypoints, x[:, target]) and out.context.shape == (2, 17, 8)
    # the window matters: changing a distant frame changes the context
    y = x.clone()
    y[:, 0] += 1
    assert not torch.allclose(enc(y).context, out.context)
    with pytest.raises(ValueError, match='27'):
        enc(torch.randn(2, 9, 17, 2))


def test_root_relative_input_ignores_where_the_person_is():
    enc = DiffPoseContextEncoder(context_channels=8, stem_channels=32)
    enc.eval()
    x = torch.randn(3, 1, 17, 2) * 0.2
    shifted = x + torch.tensor([0.3, -0.1])
    # only the root's own image position moves: the relative joints are the same
    a, b = enc(x), enc(shifted)
    assert not torch.allclose(a.init_pose, b.init_pose)
    absolute = DiffPoseContextEncoder(context_channels=8, stem_channels=32, root_relative=False)
    absolute.eval()
    absolute.load_state_dict(enc.state_dict())
    centred = x - x[:, :, :1]
    assert torch.allclose(enc(centred).init_pose, absolute(centred).init_pose, atol=1e-6)


def test_wrong_joint_count_names_the_files_to_check():
    enc = DiffPoseContextEncoder(context_channels=8, stem_channels=32)
    with pytest.raises(ValueError, match=r'\(B, T, 17, 2\).*keypoint_2d_det_file'):
        enc(torch.randn(2, 1, 16, 2))
    with pytest.raises(ValueError, match='pose_mean'):
        DiffPoseContextEncoder(num_keypoints=16, pose_mean=H36M_POSE_MEAN)
