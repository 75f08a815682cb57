"""PoseGraphDenoiser: the per-joint denoiser of DiffPose-3D."""
import pytest
import torch

from diffpose_mm.models.heads.pose_graph_denoiser import H36M_SKELETON, PoseGraphDenoiser, normalized_adjacency


def test_normalized_adjacency_of_a_chain():
    adj = normalized_adjacency(3, [(0, 1), (1, 2)])
    # degrees with self-loops: 2, 3, 2
    expected = torch.tensor([[1 / 2, 1 / 6**.5, 0], [1 / 6**.5, 1 / 3, 1 / 6**.5], [0, 1 / 6**.5, 1 / 2]])
    assert torch.allclose(adj, expected)
    assert torch.allclose(normalized_adjacency(17, H36M_SKELETON), normalized_adjacency(17, H36M_SKELETON).T)
    with pytest.raises(ValueError, match=r'\(0, 17\)'):
        normalized_adjacency(17, [(0, 17)])


def test_starts_at_zero_and_depends_on_state_step_and_condition():
    torch.manual_seed(0)
    net = PoseGraphDenoiser(cond_channels=6, embed_dims=32, num_layers=2, num_heads=4, time_embed_dims=8)
    x, t, cond = torch.randn(3, 17, 5), torch.tensor([0, 10, 40]), torch.randn(3, 17, 6)
    assert torch.equal(net(x, t, cond), torch.zeros(3, 17, 5))  # zero read-out: predicts the base at start
    torch.nn.init.normal_(net.out.weight)
    for block in net.blocks:  # FiLM starts as identity; give the step a say
        torch.nn.init.normal_(block.film[-1].weight)
    out = net(x, t, cond)
    assert out.shape == (3, 17, 5)
    assert not torch.allclose(out, net(x + 0.1, t, cond))
    assert not torch.allclose(out, net(x, t + 5, cond))
    assert not torch.allclose(out, net(x, t, cond + 0.1))
    # joints are tokens with their own embedding: a permuted input is not just a permuted output
    perm = torch.randperm(17)
    assert not torch.allclose(net(x[:, perm], t, cond[:, perm]), out[:, perm], atol=1e-4)


def test_shape_errors_name_the_expected_shapes():
    net = PoseGraphDenoiser(cond_channels=6, embed_dims=32, num_layers=1, num_heads=4)
    with pytest.raises(ValueError, match=r'x_t \(B, 17, 5\) and cond \(B, 17, 6\)'):
        net(torch.randn(2, 16, 5), torch.zeros(2), torch.randn(2, 16, 6))
    with pytest.raises(ValueError, match='divisible'):
        PoseGraphDenoiser(embed_dims=30, num_heads=4)
