"""veloxquant.torch: the cache with torch tensors (no copies for contiguous float32), the
attention function, the Hugging Face layout, and quantized linear layers as torch modules."""
import numpy as np
import pytest
import torch

import veloxquant as vq
import veloxquant.torch as vqt
from veloxquant.weights import compression_report, quantize_model


def normal(shape, seed, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def test_cache_takes_and_returns_tensors_like_the_numpy_cache():
    config = dict(layers=2, kv_heads=2, q_heads=4, head_dim=32, key_format="tq3", window=8, sinks=2, seed=3)
    tc, nc = vqt.KVCache(**config), vq.KVCache(**config)
    k, v, q = normal((20, 2, 32), 1), normal((20, 2, 32), 2), normal((3, 4, 32), 3)
    tc.append(k, v, layer=1)
    nc.append(k.numpy(), v.numpy(), layer=1)
    out = tc.attend(q, layer=1)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (3, 4, 32)
    np.testing.assert_array_equal(out.numpy(), nc.attend(q.numpy(), layer=1))
    assert len(tc) == 0 and tc.get_seq_length(1) == 20 and tc.memory_bytes() == nc.memory_bytes()


def test_contiguous_float32_tensors_are_shared_not_copied():
    t = normal((4, 2, 16), 1)
    assert np.shares_memory(vqt._view(t, "t"), t.numpy())
    half = t.half()
    assert np.shares_memory(vqt._view(half, "t"), half.numpy())  # converted once, inside the binding
    strided = normal((2, 4, 16), 2).transpose(0, 1)  # not contiguous: one copy to contiguous float32
    assert vqt._view(strided, "t").flags["C_CONTIGUOUS"]
    # attend writes into the tensor it returns (the binding's out= argument), no result copy.
    cache = vq.KVCache(head_dim=16, key_format="f32")
    cache.append(np.ones((3, 16), np.float32), np.ones((3, 16), np.float32))
    out = torch.zeros(1, 16)
    returned = cache.attend(np.ones((1, 16), np.float32), 0, out.numpy())
    assert np.shares_memory(returned, out.numpy()) and torch.all(out == 1)
    with pytest.raises(ValueError, match="out must be a writable C-contiguous float32 array of shape"):
        cache.attend(np.ones((1, 16), np.float32), 0, np.zeros((2, 16), np.float32))


def test_float16_in_float16_out():
    cache = vqt.KVCache(head_dim=16, key_format="f16")
    cache.append(normal((5, 1, 16), 1, torch.float16), normal((5, 1, 16), 2, torch.float16))
    out = cache.attend(normal((1, 1, 16), 3, torch.float16))
    assert out.dtype == torch.float16 and torch.isfinite(out).all()


def test_attention_in_a_decode_loop_equals_one_prefill():
    # An exact (f32) cache: prefill of 10 tokens then 5 decode steps gives the same outputs as
    # one causal prefill of 15 — what a decoder layer needs from its attention.
    k, v, q = normal((15, 2, 16), 1), normal((15, 2, 16), 2), normal((15, 4, 16), 3)
    full = vqt.attention(q, k, v, vqt.KVCache(kv_heads=2, q_heads=4, head_dim=16, key_format="f32"), 0)
    cache = vqt.KVCache(kv_heads=2, q_heads=4, head_dim=16, key_format="f32")
    steps = [vqt.attention(q[:10], k[:10], v[:10], cache, 0)]
    steps += [vqt.attention(q[t:t + 1], k[t:t + 1], v[t:t + 1], cache, 0) for t in range(10, 15)]
    torch.testing.assert_close(torch.cat(steps), full, rtol=1e-5, atol=1e-6)
    # ... and equals softmax(q·kᵀ/√d + causal mask)·v.
    scores = torch.einsum("qhd,khd->hqk", q, k.repeat_interleave(2, dim=1)) / 4.0
    scores = scores.masked_fill(torch.triu(torch.ones(15, 15, dtype=torch.bool), 1), float("-inf"))
    exact = torch.einsum("hqk,khd->qhd", scores.softmax(-1), v.repeat_interleave(2, dim=1))
    torch.testing.assert_close(full, exact, rtol=1e-5, atol=1e-5)


def test_hugging_face_layout():
    k, v, q = normal((1, 2, 6, 16), 1), normal((1, 2, 6, 16), 2), normal((1, 4, 6, 16), 3)
    hf = vqt.KVCache(kv_heads=2, q_heads=4, head_dim=16, key_format="tq4", seed=1)
    hf.update(k[:, :, :5], v[:, :, :5], 0)
    hf.update(k[:, :, 5:], v[:, :, 5:], 0)  # a decode step: (1, heads, 1, d) views, no copy
    out = hf.attend_states(q, 0)
    assert out.shape == (1, 4, 6, 16)
    plain = vqt.KVCache(kv_heads=2, q_heads=4, head_dim=16, key_format="tq4", seed=1)
    plain.append(k[0].transpose(0, 1), v[0].transpose(0, 1))
    torch.testing.assert_close(out[0].transpose(0, 1), plain.attend(q[0].transpose(0, 1).contiguous()))
    with pytest.raises(ValueError, match=r"key_states must have shape \(1, heads, seq, head_dim\)"):
        hf.update(normal((2, 2, 1, 16), 4), normal((2, 2, 1, 16), 5), 0)
    hf.crop(3)
    assert hf.get_seq_length(0) == 3


def test_quantize_model_replaces_the_linears_of_a_torch_module():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 32, bias=False))
    x = torch.randn(9, 64)
    reference = net(x).detach()
    quantize_model(net, bits=4, use_hadamard=True)
    assert [type(m).__name__ for m in net] == ["QuantizedLinearModule", "ReLU", "QuantizedLinearModule"]
    y = net(x)
    assert y.shape == (9, 32)
    assert float((y - reference).norm() / reference.norm()) < 0.2  # 4-bit weights (‖W − Ŵ‖/‖W‖ ≈ 0.1)
    report = compression_report(net)
    assert report["n_layers"] == 2
    # One tq4 record per row (64 and 128 columns: 34 and 66 bytes), measured over both layers.
    assert report["bits_per_weight"] == pytest.approx(8 * (128 * 34 + 32 * 66) / (128 * 64 + 32 * 128))
