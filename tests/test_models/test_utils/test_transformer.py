"""The shared Transformer-encoder builder and the cached 2D sine position encoding."""
import math

import pytest
import torch
from torch import nn

from diffpose_mm.models.utils import build_transformer_encoder, sine_pos_embed_2d
from diffpose_mm.models.utils.transformer import FusedAttentionEncoderLayer


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
    with torch.no_grad():  # the reference takes PyTorch's eval fast path here, the builder's layers SDPA
        torch.testing.assert_close(enc(x), ref(x), atol=1e-6, rtol=0)
    # training mode (dropout off to compare): same function and same gradients
    enc.train(), ref.train()
    for module in list(enc.modules()) + list(ref.modules()):
        if isinstance(module, nn.Dropout):
            module.p = 0.
    for layer in list(enc.layers) + list(ref.layers):
        layer.self_attn.dropout = 0.
    for model in (enc, ref):
        model.zero_grad()
        (model(x)**2).sum().backward()
    torch.testing.assert_close(enc(x), ref(x), atol=1e-6, rtol=0)
    for (name, p), (_, p_ref) in zip(enc.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, atol=1e-5, rtol=1e-5, msg=name)


def test_attention_is_fused_in_training_and_inference(monkeypatch):
    """PyTorch's own layer in eval under no_grad takes its C++ fast path (unfused bmm/softmax attention on CPU);
    the builder's layers call scaled_dot_product_attention in both modes and never that fast path."""
    sdpa_calls, fast_path_calls = [], []
    sdpa, fast_path = nn.functional.scaled_dot_product_attention, torch._transformer_encoder_layer_fwd
    monkeypatch.setattr(nn.functional, 'scaled_dot_product_attention',
                        lambda *a, **k: sdpa_calls.append(a[0].shape) or sdpa(*a, **k))
    monkeypatch.setattr(torch, '_transformer_encoder_layer_fwd',
                        lambda *a, **k: fast_path_calls.append(1) or fast_path(*a, **k))
    x = torch.randn(3, 7, 16)
    enc = build_transformer_encoder(16, 4, 2, 2.)
    assert all(type(layer) is FusedAttentionEncoderLayer for layer in enc.layers)
    enc(x).sum().backward()
    assert sdpa_calls == [(3, 4, 7, 4)] * 2 and not fast_path_calls  # (B, heads, L, D/heads) per layer
    with torch.no_grad():
        enc.eval()(x)
    assert len(sdpa_calls) == 4 and not fast_path_calls
    ref = inline_encoder(16, 4, 2, 2., 0., True).eval()
    with torch.no_grad():
        ref(x)
    assert len(fast_path_calls) == 2 and len(sdpa_calls) == 4  # PyTorch's layer: fast path, no SDPA


def test_fused_layer_needs_batch_first_and_falls_back_with_masks():
    with pytest.raises(ValueError, match='batch_first'):
        FusedAttentionEncoderLayer(8, 2, batch_first=False)
    torch.manual_seed(0)
    layer = FusedAttentionEncoderLayer(8, 2, dim_feedforward=16, dropout=0., batch_first=True, norm_first=True)
    ref = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0., batch_first=True, norm_first=True)
    ref.load_state_dict(layer.state_dict())
    x, mask = torch.randn(2, 5, 8), torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    torch.testing.assert_close(layer(x, src_key_padding_mask=mask), ref(x, src_key_padding_mask=mask))


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
