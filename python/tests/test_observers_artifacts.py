"""Observers that observe (events of every append and attend, with what they measure checked
independently) and the artifact stores."""
import numpy as np
import pytest

import veloxquant as vq
from mlx_kv_quant import DistortionObserver, InMemoryArtifactStore, KVCacheBuilder, LatencyObserver, MemoryObserver
from mlx_kv_quant.artifacts import ArtifactNotFoundError, NpyArtifactStore
from veloxquant.observers import ObservedKVCache


def normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


class Recorder:
    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)


def test_observers_receive_every_append_and_attend():
    latency, memory, recorder = LatencyObserver(), MemoryObserver(), Recorder()
    cache = (KVCacheBuilder().with_method("turboquant_mse").with_head_dim(64).with_bit_width(inlier=3)
             .with_observer(latency).with_observer(memory).with_observer(recorder).build())
    assert isinstance(cache, vq.KVCache) and isinstance(cache, ObservedKVCache)
    for i in range(5):
        cache.append(normal((40, 64), i), normal((40, 64), 10 + i))
    for i in range(3):
        cache.attend(normal(64, 20 + i))
    assert [e.stage for e in recorder.events] == ["append"] * 5 + ["attend"] * 3
    assert recorder.events[0].input_shape == (40, 64) and recorder.events[5].input_shape == (64,)
    report = latency.report()
    assert report["append"]["count"] == 5 and report["attend"]["count"] == 3
    assert 0 < report["attend"]["min_ms"] <= report["attend"]["mean_ms"] <= report["attend"]["max_ms"]
    # memory_bytes() deltas: pages of 256 tokens of 26-byte tq3 records (keys and values), allocated
    # one at a time: the first append takes one page, the seventh 40-token chunk would take the next.
    assert memory.report() == {"append": cache.memory_bytes(), "attend": 0}
    assert memory.peak_bytes == memory.current_bytes == cache.memory_bytes() == 2 * 256 * 26
    assert [e.memory_delta_bytes for e in recorder.events[:5]] == [2 * 256 * 26, 0, 0, 0, 0]
    assert recorder.events[4].metadata["tokens"] == 200


def test_distortion_observer_matches_exact_attention_computed_independently():
    d = 32
    distortion = DistortionObserver(b=3, d=d)
    cache = (vq.KVCacheBuilder().with_head_dim(d).with_heads(kv_heads=2, q_heads=4).with_bit_width(inlier=3)
             .with_observer(distortion).build())
    k, v = normal((100, 2, d), 1), normal((100, 2, d), 2)
    cache.append(k[:60], v[:60])
    cache.append(k[60:], v[60:])
    q = normal((3, 4, d), 3)
    out = cache.attend(q)
    errors = []
    for i in range(3):  # causal: query i sees tokens 0 .. 97 + i
        for h in range(4):
            s = k[:98 + i, h // 2].astype(np.float64) @ q[i, h] / np.sqrt(d)
            p = np.exp(s - s.max())
            exact = (p / p.sum()) @ v[:98 + i, h // 2]
            errors.append(np.linalg.norm(out[i, h] - exact) / np.linalg.norm(exact))
    report = distortion.report()
    assert report.n_samples == 12 and report.bits == 3
    assert report.mean_rel_error == pytest.approx(np.mean(errors), rel=1e-6)
    assert report.max_rel_error == pytest.approx(np.max(errors), rel=1e-6)
    assert 0.1 < report.mean_rel_error < 0.5  # tq3 on random data (docs/kv_cache.md: 0.258 at d = 128)
    # An exact cache has no distortion; truncate and clear keep the observer's copy in step.
    exact_cache = ObservedKVCache(observers=[DistortionObserver(d=d)], head_dim=d, key_format="f32", window=0,
                                  sinks=0)
    exact_cache.append(k[:50, 0], v[:50, 0])
    exact_cache.truncate(30)
    exact_cache.attend(q[0, 0])
    exact_cache.clear()
    exact_cache.append(k[:5, 1], v[:5, 1])
    exact_cache.attend(q[1, 1])
    r = exact_cache.observers[0].report()
    assert r.n_samples == 2 and r.max_rel_error < 1e-6


def test_distortion_observer_refuses_another_head_dim_and_samples():
    cache = vq.KVCacheBuilder().with_head_dim(16).with_observer(DistortionObserver(d=128)).build()
    with pytest.raises(ValueError, match="head_dim 16"):
        cache.append(normal(16, 1), normal(16, 2))
    sampled = DistortionObserver(d=16, sample_every=3)
    cache = vq.KVCacheBuilder().with_head_dim(16).with_observer(sampled).build()
    cache.append(normal((20, 16), 1), normal((20, 16), 2))
    for i in range(7):
        cache.attend(normal(16, i))
    assert sampled.report().n_samples == 3  # calls 1, 4 and 7


def test_precision_casts_outputs_and_sets_the_exact_format():
    for dtype, exact, out_dtype in ((np.float16, "f16", np.float16), ("float32", "f32", np.float32),
                                    ("bfloat16", "bf16", np.float32)):
        cache = vq.KVCacheBuilder().with_head_dim(16).with_sliding_window(4).with_precision(dtype).build()
        assert cache.config["exact_format"] == exact
        cache.append(normal((8, 16), 1), normal((8, 16), 2))
        assert cache.attend(normal(16, 3)).dtype == out_dtype
    with pytest.raises(ValueError, match="precision must be float16, float32 or bfloat16"):
        vq.KVCacheBuilder().with_precision(np.int8)
    with pytest.raises(TypeError, match="on_event"):
        vq.KVCacheBuilder().with_observer(object())


def test_in_memory_store_round_trips_and_installs_codebooks():
    store = InMemoryArtifactStore()
    with pytest.raises(ArtifactNotFoundError):
        store.load_codebook("sphere", 2, 64)
    assert not store.exists("codebook", distribution="sphere", b=2, d=64)
    store.precompute(head_dim=64, bits=(2, 3), jl_dim=32, seed=7)
    assert store.exists("codebook", distribution="sphere", b=3, d=64)
    assert store.exists("rotation", d=64, seed=7) and store.exists("jl", d=64, m=32, seed=7)
    assert not store.exists("rotation", d=64, seed=8) and not store.exists("nonsense")
    np.testing.assert_array_equal(store.load_codebook("sphere", 3, 64)["centroids"],
                                  vq.sphere_codebook(64, 3)["centroids"])
    # The stored rotation and sketch are those of Quantizer(format, 64, seed=7).
    np.testing.assert_array_equal(store.load_rotation_matrix(64, 7), vq.Quantizer("tq3", 64, seed=7).rotation_matrix())
    assert store.load_jl_matrix(64, 32, 7).shape == (32, 64)
    cache = KVCacheBuilder().with_head_dim(64).with_artifact_store(store).build()
    cache.append(normal((10, 64), 1), normal((10, 64), 2))
    # Installing a codebook that is not in order is refused by the library.
    bad = InMemoryArtifactStore()
    cb = dict(vq.sphere_codebook(16, 2))
    cb["centroids"] = cb["centroids"][::-1].copy()
    bad.save_codebook(cb, "sphere", 2, 16)
    with pytest.raises(ValueError):
        vq.KVCacheBuilder().with_head_dim(16).with_artifact_store(bad).build()
    missing_mse = InMemoryArtifactStore()
    missing_mse.save_codebook(vq.sphere_codebook(16, 2)["centroids"], "sphere", 2, 16)
    with pytest.raises(ValueError, match="has no mse"):
        vq.KVCacheBuilder().with_head_dim(16).with_artifact_store(missing_mse).build()


def test_npy_store_reads_the_precomputed_directory(tmp_path):
    store = NpyArtifactStore(tmp_path / "a")
    with pytest.raises(ArtifactNotFoundError, match="run `python -m mlx_kv_quant precompute"):
        store.manifest()
    store.precompute(head_dim=32, bits=(1, 2), jl_dim=16, seed=5)
    np.testing.assert_array_equal(store.load_rotation_matrix(32, 5), vq.Quantizer("tqp2", 32, seed=5).rotation_matrix())
    np.testing.assert_array_equal(store.load_codebook("sphere", 2, 32)["boundaries"],
                                  vq.sphere_codebook(32, 2)["boundaries"])
    assert store.load_jl_matrix(32, 16, 5).shape == (16, 32)
    with pytest.raises(ArtifactNotFoundError):
        store.load_codebook("sphere", 3, 32)
    with pytest.raises(ArtifactNotFoundError):
        store.load_rotation_matrix(32, 6)
    # A corrupted file is named when the store is opened again.
    rotation = tmp_path / "a" / "rotation_d32_s5.npy"
    data = bytearray(rotation.read_bytes())
    data[-1] ^= 0xFF
    rotation.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="rotation_d32_s5.npy"):
        NpyArtifactStore(tmp_path / "a").manifest()
