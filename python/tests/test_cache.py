"""The KV cache from Python: the seed's builder API, the multi-layer API, errors and persistence."""
import numpy as np
import pytest

import veloxquant as vq


def normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def exact_attention(k, v, q, scale=None):
    """Causal softmax attention in float64. k, v: (T, H, d); q: (n, Hq, d); query i sees T - n + i + 1 tokens."""
    t, h, d = k.shape
    n, hq, _ = q.shape
    scale = 1 / np.sqrt(d) if scale is None else scale
    out = np.zeros(q.shape)
    for i in range(n):
        visible = t - n + i + 1
        for j in range(hq):
            kh = j // (hq // h)
            s = k[:visible, kh].astype(np.float64) @ q[i, j].astype(np.float64) * scale
            p = np.exp(s - s.max())
            out[i, j] = (p / p.sum()) @ v[:visible, kh].astype(np.float64)
    return out


def rel_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_seed_quick_start_runs():
    cache = (vq.KVCacheBuilder().with_method("turboquant_prod").with_head_dim(128)
             .with_bit_width(inlier=3).with_jl_dim(128).with_seed(42).with_sliding_window(16).build())
    k, v = normal((100, 128), 1), normal((100, 128), 2)
    cache.append(k, v)
    assert len(cache) == 100
    out = cache.attend(normal(128, 3))
    assert out.shape == (128,) and out.dtype == np.float32
    assert cache.memory_bytes() > 0
    # One query attends to every token: compare with exact attention.
    ref = exact_attention(k[:, None], v[:, None], normal(128, 3)[None, None])[0, 0]
    assert rel_error(out, ref) < 0.5


@pytest.mark.parametrize("method,expected", [
    ("turboquant_mse", "tq2:outliers=4/3"),
    ("turboquant_prod", "tqp2"),
])
def test_builder_maps_options_to_formats(method, expected):
    b = vq.KVCacheBuilder().with_method(method).with_head_dim(64).with_bit_width(inlier=2)
    if method == "turboquant_mse":
        b.with_bit_width(outlier=3).with_n_outlier_channels(4)
    assert b.key_format() == expected
    cache = b.build()
    assert cache.config["key_format"] == expected
    assert cache.config["value_format"] == (expected if method == "turboquant_mse" else "tq2")
    assert vq.KVCacheBuilder().with_method("qjl").with_jl_dim(256).key_format() == "qjl:m=256"
    assert vq.KVCacheBuilder().with_method("polar").with_polar_bits(4, 3, 3, 3).key_format() == "polar:bits=4/3/3/3"


def test_every_builder_option_changes_the_cache():
    d = 64
    k, v, q = normal((64, d), 4), normal((64, d), 5), normal((4, d), 6)

    def run(builder):
        cache = builder.build()
        cache.append(k, v)
        return cache, cache.attend(q)

    def base():
        return vq.KVCacheBuilder().with_method("turboquant_mse").with_head_dim(d).with_bit_width(inlier=2)

    def window():
        return base().with_sliding_window(8)

    def outliers():
        return base().with_n_outlier_channels(8)

    # Each option against the same builder without it.
    pairs = {
        "bits": (base(), base().with_bit_width(inlier=3)),
        "outliers": (base(), outliers()),
        "outlier bits": (outliers(), outliers().with_bit_width(outlier=4)),
        "seed": (base(), base().with_seed(7)),
        "window": (base(), window()),
        "sinks": (base(), base().with_sinks(4)),
        "value format": (base(), base().with_value_format("q8")),
        "exact format": (window(), window().with_exact_format("f32")),  # default auto: f16 here
        "max tokens": (base(), base().with_max_tokens(32)),
    }
    for name, (ref, changed) in pairs.items():
        c0, o0 = run(ref)
        c1, o1 = run(changed)
        assert not np.array_equal(o0, o1) or c0.memory_bytes() != c1.memory_bytes(), name
    qjl = [run(vq.KVCacheBuilder().with_method("qjl").with_head_dim(d).with_jl_dim(m))[0].memory_bytes() for m in (64, 128)]
    assert qjl[0] < qjl[1]
    polar = [run(vq.KVCacheBuilder().with_method("polar").with_head_dim(d).with_polar_bits(*b))[0].memory_bytes()
             for b in ((4, 2, 2, 2), (4, 3, 3, 3))]
    assert polar[0] < polar[1]


def test_builder_rejects_options_that_would_do_nothing():
    with pytest.raises(ValueError, match="method must be one of"):
        vq.KVCacheBuilder().with_method("kivi")
    with pytest.raises(ValueError, match="supported by turboquant_mse and turboquant_prod, not qjl"):
        vq.KVCacheBuilder().with_method("qjl").with_n_outlier_channels(4).build()
    with pytest.raises(ValueError, match="jl_dim must be 128"):
        vq.KVCacheBuilder().with_method("turboquant_prod").with_head_dim(128).with_jl_dim(64).build()
    with pytest.raises(ValueError, match="does not take a bit width"):
        vq.KVCacheBuilder().with_method("qjl").with_bit_width(inlier=2).build()
    with pytest.raises(ValueError, match="with_polar_bits"):
        vq.KVCacheBuilder().with_method("polar").with_bit_width(inlier=2).build()
    with pytest.raises(ValueError, match="not turboquant_mse"):
        vq.KVCacheBuilder().with_jl_dim(64).build()
    with pytest.raises(ValueError, match="n_outlier_channels is 0"):
        vq.KVCacheBuilder().with_bit_width(outlier=4).build()
    with pytest.raises(ValueError, match="positive integer"):
        vq.KVCacheBuilder().with_head_dim(0)
    with pytest.raises(ValueError):  # C++ validation: q_heads not a multiple of kv_heads
        vq.KVCacheBuilder().with_heads(kv_heads=2, q_heads=3).build()


def test_multi_layer_gqa_exact_window_matches_numpy():
    # Every token inside the exact window: the cache must equal exact attention to float precision.
    t, h, hq, d = 30, 2, 6, 32
    cache = vq.KVCache(layers=3, kv_heads=h, q_heads=hq, head_dim=d, key_format="tq3", window=64, sinks=0,
                       exact_format="f32")
    ks = [normal((t, h, d), 10 + i) for i in range(3)]
    vs = [normal((t, h, d), 20 + i) for i in range(3)]
    for layer in range(3):
        cache.append(ks[layer][:11], vs[layer][:11], layer=layer)
        cache.append(ks[layer][11:], vs[layer][11:], layer=layer)
    assert [cache.size(layer) for layer in range(3)] == [t, t, t]
    q = normal((5, hq, d), 30)
    for layer in range(3):
        out = cache.attend(q, layer=layer)
        assert out.shape == (5, hq, d)
        np.testing.assert_allclose(out, exact_attention(ks[layer], vs[layer], q), atol=2e-5)


def test_gemma_policies_and_per_layer_formats(tmp_path):
    # gemma2's soft-capping and a sliding window on layer 0, q8 keys on layer 1; f32 records, so
    # the cache must equal numpy's attention of what each layer sees.
    t, h, hq, d, w, cap = 40, 2, 4, 32, 6, 2.0
    cache = vq.KVCache(layers=2, kv_heads=h, q_heads=hq, head_dim=d, key_format="f32", window=0, sinks=0,
                       softcap=cap, sliding_windows=[w, 0], layer_key_formats=["", "q8"])
    assert cache.config["sliding_windows"] == [w, 0] and cache.config["layer_key_formats"] == ["", "q8"]
    k, v, q = normal((t, h, d), 1), normal((t, h, d), 2), normal((1, hq, d), 3)
    for layer in range(2):
        cache.append(k[:30], v[:30], layer=layer)
        cache.append(k[30:], v[30:], layer=layer)

    def capped(kk, vv):
        n, scale = kk.shape[0], 1 / np.sqrt(d)
        out = np.zeros(q.shape)
        for j in range(hq):
            s = kk[:, j // (hq // h)].astype(np.float64) @ q[0, j].astype(np.float64) * scale
            s = cap * np.tanh(s / cap)
            p = np.exp(s - s.max())
            out[0, j] = (p / p.sum()) @ vv[:, j // (hq // h)].astype(np.float64)
        return out

    np.testing.assert_allclose(cache.attend(q, layer=0), capped(k[-w:], v[-w:]), atol=2e-5)
    assert rel_error(cache.attend(q, layer=1), capped(k, v)) < 0.02  # q8 keys
    assert cache.size(0) < t == cache.appended(0) == cache.size(1)
    assert cache.can_truncate(t) and not cache.can_truncate(10)
    with pytest.raises(ValueError, match="sliding window"):
        cache.truncate(10)
    cache.save(str(tmp_path / "gemma.vqkv"))
    loaded = vq.load_cache(str(tmp_path / "gemma.vqkv"))
    assert loaded.config == cache.config
    np.testing.assert_array_equal(loaded.attend(q, layer=1), cache.attend(q, layer=1))
    with pytest.raises(ValueError, match="layer_key_formats has 1 entries, expected 0 or layers = 2"):
        vq.KVCache(layers=2, head_dim=d, layer_key_formats=["q8"])


def test_compressed_attention_error_falls_with_bits():
    t, h, d = 256, 1, 128
    k, v, q = normal((t, h, d), 40), normal((t, h, d), 41), normal((8, h, d), 42)
    ref = exact_attention(k, v, q)
    errors = []
    for bits in (2, 3, 4):
        cache = vq.KVCache(head_dim=d, key_format=f"tq{bits}", window=0, sinks=0, seed=3)
        cache.append(k, v)
        errors.append(rel_error(cache.attend(q), ref))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.25


def test_array_handling_and_errors():
    cache = vq.KVCache(kv_heads=2, head_dim=16, window=4, sinks=0)
    k = normal((3, 2, 16), 50)
    cache.append(k.astype(np.float64), np.asfortranarray(k))  # converted
    assert len(cache) == 3
    with pytest.raises(ValueError, match=r"k must have shape \(tokens, 2, 16\)"):
        cache.append(normal((3, 16), 1), normal((3, 16), 1))
    with pytest.raises(ValueError, match="same shape"):
        cache.append(k, k[:2])
    with pytest.raises(IndexError, match="layer 1 out of range"):
        cache.append(k, k, layer=1)
    bad = k.copy()
    bad[1, 0, 3] = np.inf
    with pytest.raises(ValueError, match="not finite"):
        cache.append(bad, k)
    assert len(cache) == 3  # unchanged
    with pytest.raises(ValueError, match="exceeds"):
        cache.attend(normal((4, 2, 16), 2))
    with pytest.raises(ValueError):
        vq.KVCache(head_dim=16, key_format="nosuch")


def test_save_load_attends_identically_and_bad_files_raise(tmp_path):
    cache = vq.KVCache(layers=2, kv_heads=2, q_heads=4, head_dim=32, key_format="tq3", value_format="tq2",
                       window=8, sinks=2, page_tokens=16, seed=11)
    for layer in range(2):
        cache.append(normal((40, 2, 32), 60 + layer), normal((40, 2, 32), 70 + layer), layer=layer)
    path = tmp_path / "c.vqkv"
    cache.save(str(path))
    loaded = vq.load_cache(str(path))
    q = normal((3, 4, 32), 80)
    for layer in range(2):
        np.testing.assert_array_equal(loaded.attend(q, layer=layer), cache.attend(q, layer=layer))
    assert loaded.memory_bytes() == cache.memory_bytes() and loaded.config == cache.config
    cache.save(str(tmp_path / "prefix.vqkv"), n_tokens=10)
    assert len(vq.load_cache(str(tmp_path / "prefix.vqkv"))) == 10
    data = path.read_bytes()
    (tmp_path / "cut.vqkv").write_bytes(data[:-5])
    with pytest.raises(ValueError, match="truncated"):
        vq.load_cache(str(tmp_path / "cut.vqkv"))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1
    (tmp_path / "flip.vqkv").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="checksum"):
        vq.load_cache(str(tmp_path / "flip.vqkv"))
    with pytest.raises(OSError):
        vq.load_cache(str(tmp_path / "missing.vqkv"))


def test_stats_truncate_clear_copy():
    cache = vq.KVCacheBuilder().with_head_dim(64).with_bit_width(inlier=4).build()
    cache.append(normal((50, 64), 90), normal((50, 64), 91))
    s = cache.stats()
    assert s["tokens"] == 50 and s["memory_bytes"] == cache.memory_bytes()
    assert s["key_bits_per_coord"] == pytest.approx(8 * (2 + 4 * 8) / 64)
    copy = cache.copy()
    cache.truncate(20)
    assert len(cache) == 20 and len(copy) == 50
    cache.clear()
    assert len(cache) == 0


def test_cli_inspect_reports_a_cache_file(cli, tmp_path):
    import json
    import subprocess
    cache = vq.KVCache(layers=2, head_dim=32, window=4, sinks=1, seed=3)
    for layer in range(2):
        cache.append(normal((12 + layer, 32), 100 + layer), normal((12 + layer, 32), 110 + layer), layer=layer)
    path = tmp_path / "c.vqkv"
    cache.save(str(path))
    report = json.loads(subprocess.run([cli, "inspect", str(path), "--json"], check=True, capture_output=True).stdout)
    assert report["kind"] == "kv_cache" and report["valid"] is True
    assert report["layer_tokens"] == [12, 13] and report["config"]["key_format"] == "tq3"
    assert report["file_bytes"] == path.stat().st_size
    assert [s["tag"] for s in report["sections"]] == ["CONF", "FPRT", "LAYR", "LAYR"]
    data = bytearray(path.read_bytes())
    data[report["sections"][3]["offset"] + 20] ^= 1
    path.write_bytes(bytes(data))
    bad = subprocess.run([cli, "inspect", str(path), "--json"], capture_output=True)
    assert bad.returncode == 1 and json.loads(bad.stdout)["valid"] is False


def test_turboquant_prod_with_outlier_channels_calibrates_and_helps():
    # The seed's two-stream cache: tqpB:outliers=N/B' keys, the same split for the tq values.
    builder = (vq.KVCacheBuilder().with_method("turboquant_prod").with_head_dim(64).with_bit_width(inlier=3, outlier=4)
               .with_n_outlier_channels(4))
    assert builder.key_format() == "tqp3:outliers=4/4" and builder.value_format() == "tq3:outliers=4/4"
    k, v = normal((300, 64), 40), normal((300, 64), 41)
    k[:, [2, 19, 40, 63]] *= 8.0
    q = normal((4, 64), 42)
    exact = exact_attention(k[:, None], v[:, None], q[:, None])[:, 0]
    errors = []
    for b in (builder, vq.KVCacheBuilder().with_method("turboquant_prod").with_head_dim(64).with_bit_width(inlier=3)):
        cache = b.build()
        cache.append(k, v)
        errors.append(rel_error(cache.attend(q), exact))
    assert errors[0] < errors[1], errors
