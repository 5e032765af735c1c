"""Inputs that used to crash the interpreter or return NaN silently (issue 18), each a regression test.

The crash tests run their snippet in a child interpreter, so a segfault fails the test instead of
killing the whole pytest run.
"""
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

import veloxquant as vq


def run_child(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)


def test_huge_sliding_window_is_refused_not_a_segfault():
    child = run_child("""
        import numpy as np, veloxquant as vq
        for w in (2**56, 2**62, 2**64 - 1, 2**25):
            try:
                vq.KVCacheBuilder().with_sliding_window(w).build().append(np.ones(128), np.ones(128))
                print("built", w)
            except ValueError as e:
                print("ValueError", e)
    """)
    assert child.returncode == 0, child.stderr
    lines = child.stdout.splitlines()
    assert lines[0] == "ValueError CacheConfig: window = 72057594037927936 is above 16777216"
    assert all(line.startswith("ValueError CacheConfig: window = ") for line in lines), lines


def test_other_counts_are_validated_by_the_cpp_constructor():
    with pytest.raises(ValueError, match="sinks = 4611686018427387904 is above"):
        vq.KVCache(sinks=2**62)
    with pytest.raises(ValueError, match="page_tokens = "):
        vq.KVCache(page_tokens=2**40)
    with pytest.raises(ValueError, match="max_tokens = "):
        vq.KVCache(max_tokens=2**63)
    with pytest.raises(ValueError, match="layers × kv_heads"):
        vq.KVCache(layers=2**33, kv_heads=2**33)
    with pytest.raises(ValueError, match="bytes of buffers"):
        vq.KVCache(layers=8, kv_heads=8, key_format="f32", window=2**24)


def test_four_threads_appending_to_one_cache_do_not_crash():
    # Used to crash in 2 of 6 runs (put_block_scale <- TurboMseCore::put_block <- cache_append).
    child = run_child("""
        import threading, numpy as np, veloxquant as vq
        for run in range(6):
            cache = vq.KVCache(kv_heads=2, head_dim=64, key_format="tq3", window=4, sinks=1)
            def work(seed):
                rng = np.random.default_rng(seed)
                for _ in range(150):
                    k = rng.standard_normal((3, 2, 64)).astype(np.float32)
                    cache.append(k, k)
                    out = cache.attend(rng.standard_normal((1, 2, 64)).astype(np.float32))
                    assert np.isfinite(out).all()
                    if seed == 0 and _ % 50 == 49:  # readers of the whole cache meanwhile
                        cache.stats(), cache.memory_bytes(), cache.copy(), repr(cache)
            threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            print(len(cache))
    """)
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["1800"] * 6  # 4 threads × 150 appends × 3 tokens


def test_inner_products_refuse_non_finite_queries():
    q = vq.Quantizer("tq3", dim=32, seed=0)
    codes = q.encode(np.random.default_rng(0).standard_normal((4, 32)))
    for bad in (np.nan, np.inf, -np.inf):
        x = np.ones((2, 32), np.float32)
        x[1, 7] = bad
        with pytest.raises(ValueError, match=r"q\[1\]\[7\] = .* is not finite"):
            q.inner_products(x, codes)


def test_attend_with_a_query_whose_scores_overflow_is_an_error_not_nan():
    # q = 3e38 gave NaN: its scores overflow float32, so no float32 softmax can rank them.
    cache = vq.KVCacheBuilder().with_head_dim(32).build()
    rng = np.random.default_rng(1)
    cache.append(rng.standard_normal((10, 32)), rng.standard_normal((10, 32)))
    with pytest.raises(ValueError, match=r"q\[query 0\]\[head 0\] has norm 1\.697e\+39: its attention scores overflow"):
        cache.attend(np.full(32, 3e38, np.float32))
    out = cache.attend(np.full(32, 1e30, np.float32))  # large but representable: one-hot, finite
    assert np.isfinite(out).all()
    assert np.isfinite(cache.attend(rng.standard_normal(32))).all()


def test_loader_refuses_a_paged_record_with_an_inf_scale(tmp_path):
    cache = vq.KVCache(head_dim=16, key_format="tq3", window=0, sinks=0)
    rng = np.random.default_rng(2)
    cache.append(rng.standard_normal((5, 16)), rng.standard_normal((5, 16)))
    path = tmp_path / "c.vqkv"
    cache.save(str(path))
    image = bytearray(path.read_bytes())
    # Header (32 B), then sections: tag, reserved, u64 size, payload, CRC-32 of tag..payload.
    at = 32
    for _ in range(2):  # CONF, FPRT
        at += 16 + struct.unpack_from("<Q", image, at + 8)[0] + 4
    size = struct.unpack_from("<Q", image, at + 8)[0]
    record = 2 + 16 * 3 // 8  # tq3 at d = 16: fp16 scale + 3 bit planes
    scale_at = at + 16 + 48 + 28 + 2 * record  # counts, head fields, then key record 2
    struct.pack_into("<H", image, scale_at, 0x7C00)  # fp16 +Inf
    struct.pack_into("<I", image, at + 16 + size, zlib.crc32(bytes(image[at:at + 16 + size])))
    path.write_bytes(bytes(image))
    with pytest.raises(ValueError, match="paged key record 2 .* has a non-finite scale"):
        vq.load_cache(str(path))


def test_save_prefix_and_seed_arguments_are_checked():
    cache = vq.KVCacheBuilder().with_head_dim(16).build()
    cache.append(np.ones((3, 16)), np.ones((3, 16)))
    with pytest.raises(ValueError, match="n_tokens must be >= 0, got -1"):
        cache.save("/nonexistent/never-written.vqkv", n_tokens=-1)
    with pytest.raises(TypeError, match="n_tokens must be None or an integer, got 1.5"):
        cache.save("/nonexistent/never-written.vqkv", n_tokens=1.5)
    with pytest.raises(TypeError, match="seed must be an integer, got 1.5"):
        vq.KVCacheBuilder().with_seed(1.5)
    with pytest.raises(TypeError, match="seed must be an integer, got True"):
        vq.KVCacheBuilder().with_seed(True)
    with pytest.raises(ValueError, match=r"seed must be in 0..18446744073709551615, got -1"):
        vq.KVCacheBuilder().with_seed(-1)
    with pytest.raises(TypeError, match="sliding window must be an integer"):
        vq.KVCacheBuilder().with_sliding_window(2.0)
    assert vq.KVCacheBuilder().with_seed(np.uint64(2**64 - 1)).build().config["seed"] == 2**64 - 1


def test_large_non_power_of_two_dimension_sets_up_with_a_structured_rotation():
    # Quantizer("tq3", 3000) took 67 s building a dense Haar matrix; above 1024 the rotation is
    # the overlapping randomized Hadamard (docs/formats.md), and rotated spikes quantize like noise.
    q = vq.Quantizer("tq3", dim=3000, seed=4)
    x = np.zeros((8, 3000), np.float32)
    x[np.arange(8), np.arange(8) * 373] = 1.0
    err = np.sum((q.decode(q.encode(x)) - x) ** 2, axis=1)
    assert 0.02 < err.mean() < 0.045  # theory.md: D_mse(3) ≈ 0.0345 for large d
