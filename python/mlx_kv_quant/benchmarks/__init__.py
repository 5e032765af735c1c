"""The seed's benchmarks: `python -m mlx_kv_quant.benchmarks.attend_benchmark` (veloxquant.bench)."""
