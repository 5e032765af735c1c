"""Every example of the seed project's README (VeloxQuant-MLX, package mlx_kv_quant), run as a user
would: each snippet is copied as printed, with `import mlx.core as mx` replaced by
`import numpy as mx`, and run by a fresh interpreter in an empty directory."""
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

QUICK_START = '''
import mlx.core as mx
import numpy as np
from mlx_kv_quant import KVCacheBuilder

# Build a TurboQuantProd cache with the fluent builder
cache = (
    KVCacheBuilder()
    .with_method("turboquant_prod")   # or "turboquant_mse", "polar", "qjl"
    .with_head_dim(128)
    .with_bit_width(inlier=2, outlier=3)
    .with_jl_dim(128)
    .with_n_outlier_channels(4)
    .with_seed(42)
    .with_precision(mx.float16)
    .build()
)

# Simulate streaming token generation
rng = np.random.default_rng(0)
for _ in range(100):
    k = mx.array(rng.standard_normal(128).astype(np.float16))
    v = mx.array(rng.standard_normal(128).astype(np.float16))
    cache.append(k, v)

q = mx.array(rng.standard_normal(128).astype(np.float16))
output = cache.attend(q)   # shape (128,)
print(f"Memory: {cache.memory_bytes() / 1024:.1f} KB for {len(cache)} tokens")
'''

ARTIFACT_STORE = '''
from mlx_kv_quant.artifacts import NpyArtifactStore
from mlx_kv_quant import KVCacheBuilder

cache = (
    KVCacheBuilder()
    .with_method("turboquant_prod")
    .with_head_dim(128)
    .with_bit_width(inlier=2)
    .with_artifact_store(NpyArtifactStore("./artifacts/"))
    .build()
)
'''

PRECOMPUTE = ["precompute", "--head_dim", "128", "--bits", "1", "2", "3", "4", "--jl_dim", "128", "--seed", "42",
              "--output_dir", "./artifacts/"]


def seed_snippet(text):
    return textwrap.dedent(text).replace("import mlx.core as mx", "import numpy as mx")


def child_env():
    """This interpreter's environment, PYTHONPATH made absolute (the children run elsewhere)."""
    env = dict(os.environ)
    paths = [str(pathlib.Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run(args, cwd, script=None):
    """python3 <args> (or a script) in cwd; returns stdout, failing the test on a non-zero exit."""
    if script is not None:
        (cwd / "snippet.py").write_text(seed_snippet(script))
        args = ["snippet.py"]
    child = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=child_env(),
                           timeout=300)
    assert child.returncode == 0, f"{args}: {child.stderr}"
    return child.stdout


@pytest.fixture
def user_dir(tmp_path):
    return pathlib.Path(tmp_path)


def test_quick_start_runs_as_printed(user_dir):
    out = run([], user_dir, QUICK_START)
    # 100 tokens, tqp2:outliers=4/3 keys (43 B) and tq2:outliers=4/3 values (39 B) in one 256-token page each.
    assert out == "Memory: 20.5 KB for 100 tokens\n", out


def test_quick_start_cache_is_what_the_builder_says():
    import numpy as np

    from mlx_kv_quant import KVCacheBuilder

    cache = (KVCacheBuilder().with_method("turboquant_prod").with_head_dim(128).with_bit_width(inlier=2, outlier=3)
             .with_jl_dim(128).with_n_outlier_channels(4).with_seed(42).with_precision(np.float16).build())
    assert cache.config["key_format"] == "tqp2:outliers=4/3"
    assert cache.config["value_format"] == "tq2:outliers=4/3"
    assert cache.config["exact_format"] == "f16" and cache.config["seed"] == 42
    rng = np.random.default_rng(0)
    for _ in range(100):
        cache.append(rng.standard_normal(128).astype(np.float16), rng.standard_normal(128).astype(np.float16))
    out = cache.attend(rng.standard_normal(128).astype(np.float16))
    assert out.shape == (128,) and out.dtype == np.float16 and np.isfinite(out).all()
    assert cache.memory_bytes() == 256 * (43 + 39) + 2 * 4 * 4  # one page of keys and values + outlier lists


def test_precompute_then_artifact_store(user_dir):
    out = run(["-m", "mlx_kv_quant", *PRECOMPUTE], user_dir)
    assert "head_dim 128, bits [1, 2, 3, 4], seed 42" in out
    manifest = (user_dir / "artifacts" / "manifest.json").read_text()
    assert '"dim": 128' in manifest and '"seed": 42' in manifest
    run([], user_dir, ARTIFACT_STORE)


def test_artifact_store_of_another_head_dim_is_refused(user_dir):
    run(["-m", "mlx_kv_quant", "precompute", "--head_dim", "64", "--bits", "2", "--output_dir", "./artifacts/"],
        user_dir)
    (user_dir / "snippet.py").write_text(seed_snippet(ARTIFACT_STORE))
    child = subprocess.run([sys.executable, "snippet.py"], cwd=user_dir, capture_output=True, text=True,
                           env=child_env())
    assert child.returncode != 0
    assert "are for head_dim 64, the cache has 128" in child.stderr


@pytest.mark.parametrize("extra", [["--seq_len", "1000"],
                                   ["--seq_len", "1000", "--compare_optimized"],
                                   ["--seq_lens", "128", "512", "1000", "2048", "--compare_optimized"]])
def test_benchmark_commands(user_dir, extra):
    out = run(["-m", "mlx_kv_quant", "benchmark", "--method", "turboquant_prod", "--head_dim", "128", "--bits", "3",
               *extra], user_dir)
    rows = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    seq_lens = [e for e in extra if e.isdigit()]
    configs = 3 if "--compare_optimized" in extra else 2
    assert len(rows) == len(seq_lens) * configs, out
    assert all("| f16 | f16 |" in row for row in rows[::configs])  # the f16 baseline of the same run
    assert all("| tqp3 |" in row for row in rows[1::configs])
    if configs == 3:
        assert all("| tqp3:outliers=4/4 |" in row for row in rows[2::configs])


@pytest.mark.parametrize("method", ["turboquant_mse", "qjl", "polar"])
def test_benchmark_other_methods(user_dir, method):
    args = ["-m", "mlx_kv_quant", "benchmark", "--method", method, "--head_dim", "128", "--seq_len", "300"]
    out = run(args + (["--bits", "3"] if method == "turboquant_mse" else []), user_dir)
    assert "| 300 | f16 | f16 |" in out and f"| 300 | {method} |" in out


@pytest.mark.parametrize("extra", [[],
                                   ["--method", "turboquant_mse", "--bits", "2"],
                                   ["--seq_lens", "64", "256", "1024", "4096", "--correctness"],
                                   ["--head_dim", "64", "--jl_dim", "64", "--bits", "3"]])
def test_attend_benchmark_commands(user_dir, extra):
    out = run(["-m", "mlx_kv_quant.benchmarks.attend_benchmark", *extra], user_dir)
    seq_lens = [e for e in extra if e.isdigit() and int(e) > 8] or ["128", "512", "1000", "2048"]
    if "--head_dim" in extra:
        seq_lens = ["128", "512", "1000", "2048"]
    assert "=== attend latency (ms/call)" in out
    for n in seq_lens:
        assert any(line.split()[:1] == [n] for line in out.splitlines()), (n, out)
    assert out.count("speed vs f16") == 2 * len(seq_lens)
    if "--correctness" in extra:
        assert out.count("rel. error vs exact float64 attention") == 3 * len(seq_lens)
