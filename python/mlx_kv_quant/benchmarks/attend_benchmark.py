"""Attend latency sweep: python -m mlx_kv_quant.benchmarks.attend_benchmark [--method M] [--bits B]
[--seq_lens N ...] [--correctness] (the seed's flags; columns in veloxquant.bench)."""
import argparse

from veloxquant.bench import run_attend_benchmark


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mlx_kv_quant.benchmarks.attend_benchmark",
                                     description="Attend latency (ms/call) of the f16 cache, the method, and the "
                                                 "method with 4 outlier channels, across sequence lengths.")
    parser.add_argument("--method", default="turboquant_prod", choices=["turboquant_prod", "turboquant_mse"])
    parser.add_argument("--head_dim", type=int, default=128)
    parser.add_argument("--bits", type=int, default=3)
    parser.add_argument("--jl_dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seq_lens", type=int, nargs="*", default=[128, 512, 1000, 2048])
    parser.add_argument("--n_calls", type=int, default=20)
    parser.add_argument("--correctness", action="store_true",
                        help="also print each configuration's error against exact float64 attention")
    args = parser.parse_args(argv)
    jl_dim = args.jl_dim if args.method == "turboquant_prod" else None
    run_attend_benchmark(args.method, args.head_dim, args.bits, jl_dim, args.seed, args.seq_lens, args.n_calls,
                         args.correctness)


if __name__ == "__main__":
    main()
