"""The benchmarks behind `python -m mlx_kv_quant benchmark` and `python -m mlx_kv_quant.benchmarks.attend_benchmark`.

The seed project compared its own code paths (a per-token Python loop against vectorized ones).
Here every run measures, on the same random keys, values and query (float16 values, as the seed
used): an **f16 cache** (the uncompressed baseline, K and V stored in fp16 and attended by the same
library), the chosen method, and with the outlier option the method with outlier channels. Columns:
encode time (one append call of all tokens), mean attend time of a decode query over all tokens
(after one warm-up call), memory_bytes() (allocated payload), measured bits per coordinate of K
and V, speed and compression against the f16 cache of the same run, and the attention output's
error against exact float64 attention. Timings are wall-clock on whatever machine runs them: on a
shared machine, read ratios from one run, not absolute times.
"""
import time

import numpy as np

from .builder import KVCacheBuilder


def _builder(method, head_dim, bits, jl_dim, seed, outliers=0, calib_tokens=128):
    b = KVCacheBuilder().with_method(method).with_head_dim(head_dim).with_seed(seed).with_n_calib_tokens(calib_tokens)
    if method in ("turboquant_prod", "turboquant_mse"):
        b.with_bit_width(inlier=bits)
    if method == "qjl" or (method == "turboquant_prod" and jl_dim is not None):
        b.with_jl_dim(jl_dim)
    if outliers:
        b.with_n_outlier_channels(outliers)
    return b


def configurations(method, head_dim, bits, jl_dim, seed, with_outliers, n_outlier_channels=4, n_calib_tokens=200):
    """[(label, builder)]: the f16 baseline, the method, and optionally the method with outlier channels."""
    configs = [("f16", _F16Builder(head_dim, seed)), (method, _builder(method, head_dim, bits, jl_dim, seed))]
    if with_outliers:
        if method not in ("turboquant_prod", "turboquant_mse"):
            raise ValueError(f"outlier channels need turboquant_prod or turboquant_mse, not {method}")
        configs.append((f"{method}+{n_outlier_channels}ch",
                        _builder(method, head_dim, bits, jl_dim, seed, n_outlier_channels, n_calib_tokens)))
    return configs


class _F16Builder:
    """The uncompressed baseline: keys and values in fp16 pages (window 0, like the others)."""

    def __init__(self, head_dim, seed):
        self.head_dim, self.seed = head_dim, seed

    def key_format(self):
        return "f16"

    def build(self):
        from ._core import KVCache

        return KVCache(head_dim=self.head_dim, key_format="f16", value_format="f16", window=0, sinks=0,
                       seed=self.seed)


def exact_attention(k, v, q):
    """softmax(k·q/√d)·v in float64, one query over every token."""
    s = k.astype(np.float64) @ q.astype(np.float64) / np.sqrt(k.shape[1])
    p = np.exp(s - s.max())
    return (p / p.sum()) @ v.astype(np.float64)


def measure(builder, k, v, q, n_calls):
    cache = builder.build()
    t0 = time.perf_counter()
    cache.append(k, v)
    encode_ms = (time.perf_counter() - t0) * 1e3
    out = cache.attend(q)  # warm-up
    t0 = time.perf_counter()
    for _ in range(n_calls):
        out = cache.attend(q)
    attend_ms = (time.perf_counter() - t0) * 1e3 / n_calls
    exact = exact_attention(k, v, q)
    return {"format": builder.key_format(), "encode_ms": encode_ms, "attend_ms": attend_ms,
            "memory_bytes": cache.memory_bytes(), "output": np.asarray(out, dtype=np.float64),
            "rel_error": float(np.linalg.norm(out - exact) / np.linalg.norm(exact))}


def random_tokens(seq_len, head_dim, rng):
    k = rng.standard_normal((seq_len, head_dim)).astype(np.float16).astype(np.float32)
    v = rng.standard_normal((seq_len, head_dim)).astype(np.float16).astype(np.float32)
    return k, v, rng.standard_normal(head_dim).astype(np.float16).astype(np.float32)


def run_cache_benchmark(method="turboquant_prod", head_dim=128, bits=3, jl_dim=128, seq_lens=(1000,), seed=42,
                        compare_optimized=False, n_outlier_channels=4, n_calib_tokens=200, n_calls=10, out=print):
    """The seed's `benchmark` table; returns the rows."""
    rng = np.random.default_rng(seed)
    configs = configurations(method, head_dim, bits, jl_dim, seed, compare_optimized, n_outlier_channels,
                             n_calib_tokens)
    out("\n=== veloxquant benchmark (mlx_kv_quant CLI) ===")
    out(f"Method: {method}, head_dim={head_dim}, bits={bits}, jl_dim={jl_dim}, seed={seed}; f16 baseline in the "
        f"same run, window 0, sinks 0")
    out("")
    out(f"| seq_len | Method | Format | Encode (1 append) | Attend avg ({n_calls} calls) | Speed vs f16 | Cache memory "
        f"| Bits/coord (K+V) | Compression vs f16 K+V | Rel. error |")
    out("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for seq_len in seq_lens:
        k, v, q = random_tokens(seq_len, head_dim, rng)
        results = [(label, measure(b, k, v, q, n_calls)) for label, b in configs]
        f16 = results[0][1]
        for label, r in results:
            r.update(seq_len=seq_len, label=label, speed_vs_f16=f16["attend_ms"] / r["attend_ms"],
                     compression_vs_f16=f16["memory_bytes"] / r["memory_bytes"],
                     bits_per_coord=8.0 * r["memory_bytes"] / (2 * seq_len * head_dim))
            out(f"| {seq_len} | {label} | {r['format']} | {r['encode_ms']:.2f} ms | {r['attend_ms']:.3f} ms | "
                f"{r['speed_vs_f16']:.2f}x | {r['memory_bytes'] / 1024:.1f} KB | {r['bits_per_coord']:.2f} | "
                f"{r['compression_vs_f16']:.2f}x | {r['rel_error']:.4f} |")
            rows.append(r)
    return rows


def run_attend_benchmark(method="turboquant_prod", head_dim=128, bits=3, jl_dim=128, seed=42,
                         seq_lens=(128, 512, 1000, 2048), n_calls=20, correctness=False, out=print):
    """The seed's attend latency sweep: f16, the method, the method with 4 outlier channels."""
    rng = np.random.default_rng(seed)
    with_outliers = method in ("turboquant_prod", "turboquant_mse")
    configs = configurations(method, head_dim, bits, jl_dim, seed, with_outliers, 4, 50)
    col = 16
    header = f"{'seq_len':>8}  " + "  ".join(f"{label:>{col}}" for label, _ in configs)
    out(f"\n=== attend latency (ms/call) — method={method}, d={head_dim}, bits={bits} ===")
    out("formats: " + ", ".join(f"{label} = {b.key_format()}" for label, b in configs) +
        "; f16 is the uncompressed cache of the same run")
    out(header)
    out("-" * len(header))
    rows = []
    for seq_len in seq_lens:
        k, v, q = random_tokens(seq_len, head_dim, rng)
        results = {label: measure(b, k, v, q, n_calls) for label, b in configs}
        out(f"{seq_len:>8}  " + "  ".join(f"{r['attend_ms']:>{col}.3f}" for r in results.values()))
        base = results["f16"]["attend_ms"]
        for label, r in results.items():
            if label != "f16":
                out(f"          {label:>16}: {base / r['attend_ms']:.2f}x speed vs f16")
        if correctness:
            for label, r in results.items():
                out(f"          correctness {label}: rel. error vs exact float64 attention {r['rel_error']:.4f}")
        out("          memory (bytes): " + ", ".join(f"{label}={r['memory_bytes']}" for label, r in results.items()))
        out("")
        rows.append({"seq_len": seq_len, **{label: r for label, r in results.items()}})
    return rows
