"""The shared Transformer-encoder builder and the cached 2D sine position encoding."""
import math

import pytest
import torch
from torch import nn

from diffpose_mm.models.utils import build_transformer_encoder, sine_pos_embed_2d


def inline_encoder(dims, num_heads, num_layers, mlp_ratio, drop_rate, final_norm):
    """The construction the neck and the head each had inline before issue 8."""
    layer = nn.TransformerEncoderLayer(dims, num_heads, dim_feedforward=int(dims * mlp_ratio), dropout=drop_rate,
                                       activation='gelu', batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(dims) if final_norm else None,
                                 enable_nested_tensor=False)


@pytest.mark.parametrize('final_norm', [True, False])
def test_builder_matches_the_former_inline_encoders(final_norm):
    args = (16, 4, 3, 2., 0.1)
    torch.manual_seed(0)
    ref = inline_encoder(*args, final_norm).eval()
    torch.manual_seed(0)
    enc = build_transformer_encoder(*args, final_norm=final_norm).eval()
    ref_sd, sd = ref.state_dict(), enc.state_dict()
    assert list(sd) == list(ref_sd)  # same keys, so checkpoints load unchanged
    assert all(torch.equal(sd[k], ref_sd[k]) for k in sd)
    assert ('norm.weight' in sd) == final_norm and 'layers.2.linear1.weight' in sd
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        assert torch.equal(enc(x), ref(x))


def test_builder_settings():
    enc = build_transformer_encoder(8, 2, 2, mlp_ratio=3., drop_rate=0.2)
    for layer in enc.layers:
        assert layer.norm_first and layer.self_attn.batch_first
        assert layer.activation is nn.functional.gelu
        assert layer.linear1.out_features == 24 and layer.dropout.p == 0.2
    assert isinstance(enc.norm, nn.LayerNorm)
    # pre-LN: a layer is x + attn(LN(x)) followed by x + FFN(LN(x)), checked by hand on the first layer
    layer = enc.layers[0].eval()
    x = torch.randn(1, 4, 8)
    with torch.no_grad():
        y = layer.norm1(x)
        y = x + layer.self_attn(y, y, y, need_weights=False)[0]
        y = y + layer.linear2(nn.functional.gelu(layer.linear1(layer.norm2(y))))
        torch.testing.assert_close(layer(x), y)


def test_sine_pos_embed_2d_values():
    h, w, dims = 3, 5, 12
    pos = sine_pos_embed_2d(h, w, dims, torch.device('cpu'))
    assert pos.shape == (1, h * w, dims) and pos.dtype == torch.float32
    q = dims // 4  # frequencies per axis
    for y in range(h):
        for x in range(w):
            expected = []
            for p in (y, x):  # rows first, then columns; sin half then cos half
                freqs = [math.exp(-math.log(10000) * i / (q - 1)) for i in range(q)]
                expected += [math.sin(p * f) for f in freqs] + [math.cos(p * f) for f in freqs]
            torch.testing.assert_close(pos[0, y * w + x], torch.tensor(expected), atol=1e-6, rtol=0)


def test_sine_pos_embed_2d_is_cached_per_size_dims_and_dtype():
    cpu = torch.device('cpu')
    a = sine_pos_embed_2d(4, 3, 16, cpu)
    assert sine_pos_embed_2d(4, 3, 16, cpu) is a  # no recomputation
    assert sine_pos_embed_2d(4, 3, 16, cpu, torch.float32) is a
    assert sine_pos_embed_2d(4, 3, 16, 'cpu') is a and sine_pos_embed_2d(h=4, w=3, dims=16, device=cpu) is a
    transposed = sine_pos_embed_2d(3, 4, 16, cpu)
    assert transposed.shape == a.shape and not torch.equal(transposed, a)
    assert sine_pos_embed_2d(4, 3, 8, cpu).shape == (1, 12, 8)
    half = sine_pos_embed_2d(4, 3, 16, cpu, torch.float16)
    assert half.dtype == torch.float16 and torch.equal(half, a.half())
    assert not a.requires_grad
    with pytest.raises(ValueError, match='divisible by 4'):
        sine_pos_embed_2d(4, 3, 6, cpu)


def test_sine_pos_embed_2d_from_inference_mode_works_in_training():
    sine_pos_embed_2d.cache_clear()
    with torch.inference_mode():
        pos = sine_pos_embed_2d(2, 2, 8, torch.device('cpu'))
    assert not pos.is_inference()
    layer = nn.Linear(8, 8)
    loss = (layer(torch.randn(1, 4, 8) + sine_pos_embed_2d(2, 2, 8, torch.device('cpu'))) * pos).sum()
    loss.backward()
    assert layer.weight.grad is not None
