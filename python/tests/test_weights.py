"""Weight quantization with products on the codes (veloxquant.weights, the seed's mlx_kv_quant.weight)."""
import numpy as np
import pytest

from mlx_kv_quant.weight import QuantizedLinear, compression_report, quantize_model
from veloxquant.weights import hadamard_block


def test_products_on_the_codes_match_the_decoded_matrix():
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((48, 96)).astype(np.float32), rng.standard_normal(48).astype(np.float32)
    layer = QuantizedLinear(in_features=96, out_features=48, bits=4, use_hadamard=True).quantize_weights(w, bias=b)
    assert layer.block == 32 and layer.codes.shape == (3, 48, 2 + 16)
    x = rng.standard_normal((2, 5, 96)).astype(np.float32)
    y = layer(x)
    assert y.shape == (2, 5, 48) and y.dtype == np.float32
    on_decoded = x @ layer.dequantize().T + b
    assert np.linalg.norm(y - on_decoded) / np.linalg.norm(on_decoded) < 0.02  # int8-rounded queries
    exact = x @ w.T + b
    assert 0.05 < np.linalg.norm(y - exact) / np.linalg.norm(exact) < 0.15  # 4-bit weights
    assert 0.08 < layer.relative_error < 0.11  # ‖W − Ŵ‖/‖W‖ of tq4 ≈ √0.0093 (theory.md)
    assert layer.memory_bytes == 3 * 48 * 18 + 48 * 4 and layer.fp16_bytes == 2 * 48 * 96 + 2 * 48
    assert layer.bits_per_weight == pytest.approx(4.5)  # 32-column records: 4 bits + an fp16 scale


def test_error_falls_with_bits_and_hadamard_blocks_are_chosen():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((64, 128)).astype(np.float32)
    errors = [QuantizedLinear(128, 64, bits=b).quantize_weights(w).relative_error for b in (2, 3, 4, 5)]
    assert errors == sorted(errors, reverse=True)
    assert hadamard_block(768) == 256 and hadamard_block(4096) == 256 and hadamard_block(96) == 32
    assert hadamard_block(100) == 100  # no power-of-two divisor >= 32: one record per row
    assert QuantizedLinear(768, 8, use_hadamard=False).block == 768


def test_bad_arguments():
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        QuantizedLinear(0, 4)
    layer = QuantizedLinear(64, 4, bias=False)
    with pytest.raises(ValueError, match=r"weight must have shape \(4, 64\), got \(64, 4\)"):
        layer.quantize_weights(np.zeros((64, 4)))
    with pytest.raises(RuntimeError, match="quantize_weights has not been called"):
        layer(np.zeros(64))
    with pytest.raises(ValueError, match="bias=False"):
        layer.quantize_weights(np.zeros((4, 64)), bias=np.zeros(4))
    with pytest.raises(ValueError, match="non-finite value nan in vector 0"):
        layer.quantize_weights(np.full((4, 64), np.nan))
    layer.quantize_weights(np.ones((4, 64)))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 64\)"):
        layer(np.zeros((2, 32)))
    with pytest.raises(TypeError, match="dict of arrays or a torch.nn.Module"):
        quantize_model([np.zeros((4, 4))])


def test_quantize_model_of_a_weights_dict_and_the_seeds_compression_report(capsys):
    rng = np.random.default_rng(2)
    weights = {"tok_embeddings.weight": rng.standard_normal((100, 64)).astype(np.float32),
               "layers.0.attention.wq.weight": rng.standard_normal((64, 64)).astype(np.float32),
               "layers.0.feed_forward.w1.weight": rng.standard_normal((256, 64)).astype(np.float32),
               "layers.0.feed_forward.w1.bias": rng.standard_normal(256).astype(np.float32),
               "layers.0.attention_norm.weight": np.ones(64, np.float32)}
    model = quantize_model(weights, bits=4, use_hadamard=True)
    assert list(model) == ["tok_embeddings.weight", "layers.0.attention.wq.weight",
                           "layers.0.feed_forward.w1.weight", "layers.0.attention_norm.weight"]
    assert model["tok_embeddings.weight"] is weights["tok_embeddings.weight"]  # embeddings skipped
    assert isinstance(model["layers.0.feed_forward.w1.weight"], QuantizedLinear)
    np.testing.assert_array_equal(model["layers.0.feed_forward.w1.weight"].bias, weights["layers.0.feed_forward.w1.bias"])
    # The seed's script, as printed (its model came from mlx_lm.load):
    report = compression_report(model)
    print("\n=== Compression Report ===")
    print(f"Layers quantized : {report['n_layers']}")
    print(f"Original size    : {report['total_fp16_mb']:.0f} MB (fp16)")
    print(f"Compressed size  : {report['total_compressed_mb']:.0f} MB")
    print(f"Compression ratio: {report['compression_ratio']:.1f}x")
    out = capsys.readouterr().out
    assert "Layers quantized : 2\n" in out and "Compression ratio: 3.5x\n" in out
    # fp16: 2·(64·64 + 256·64 + 256) bytes; codes: (64 + 256) rows × (2 + 32) B + the f32 bias.
    assert report["compression_ratio"] == pytest.approx(2 * (64 * 64 + 256 * 64 + 256) / (320 * 34 + 256 * 4))
