"""python -m mlx_kv_quant precompute|benchmark ... (the seed's command line)."""
import argparse
import sys

from veloxquant.artifacts import NpyArtifactStore
from veloxquant.bench import run_cache_benchmark

_METHODS = ["turboquant_prod", "turboquant_mse", "qjl", "polar"]


def precompute(argv):
    parser = argparse.ArgumentParser(prog="python -m mlx_kv_quant precompute",
                                     description="Precompute codebooks, the rotation matrix and the JL matrix "
                                                 "(veloxquant's artifact directory, manifest.json with CRC-32s).")
    parser.add_argument("--head_dim", type=int, default=128)
    parser.add_argument("--bits", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--jl_dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output_dir", default="./artifacts/")
    args = parser.parse_args(argv)
    manifest = NpyArtifactStore(args.output_dir).precompute(args.head_dim, args.bits, args.jl_dim, args.seed)
    print(f"wrote {len(manifest['files'])} files and manifest.json to {args.output_dir}: head_dim {manifest['dim']}, "
          f"bits {manifest['bits']}, seed {manifest['seed']}, rotation {manifest['rotation_kind']} "
          f"({manifest['rotation_file']}), JL matrix {manifest['qjl_dim']} x {manifest['dim']} ({manifest['qjl_file']})")


def benchmark(argv):
    parser = argparse.ArgumentParser(prog="python -m mlx_kv_quant benchmark",
                                     description="Encode and attend time, memory and error of a cache against the "
                                                 "f16 cache of the same run.")
    parser.add_argument("--method", default="turboquant_prod", choices=_METHODS)
    parser.add_argument("--head_dim", type=int, default=128)
    parser.add_argument("--bits", type=int, default=None, help="bits of turboquant_prod / turboquant_mse (default 3)")
    parser.add_argument("--jl_dim", type=int, default=128)
    parser.add_argument("--seq_len", type=int, default=1000)
    parser.add_argument("--seq_lens", type=int, nargs="*", default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--compare_optimized", action="store_true",
                        help="add the method with --n_outlier_channels outlier channels (the seed's two-stream cache)")
    parser.add_argument("--n_outlier_channels", type=int, default=4)
    parser.add_argument("--n_calib_tokens", type=int, default=200)
    parser.add_argument("--n_calls", type=int, default=10)
    args = parser.parse_args(argv)
    if args.method in ("qjl", "polar") and args.bits is not None:
        parser.error(f"--bits does not apply to {args.method} (qjl stores one sign bit per sketch row, polar "
                     "4/2/2/2 bits per level)")
    jl_dim = args.jl_dim if args.method in ("turboquant_prod", "qjl") else None
    run_cache_benchmark(args.method, args.head_dim, 3 if args.bits is None else args.bits, jl_dim,
                        args.seq_lens or [args.seq_len], args.seed, args.compare_optimized, args.n_outlier_channels,
                        args.n_calib_tokens, args.n_calls)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    commands = {"precompute": precompute, "benchmark": benchmark}
    if not argv or argv[0] not in commands:
        print("usage: python -m mlx_kv_quant {precompute,benchmark} [options]  (--help after a command)",
              file=sys.stderr)
        return 2
    commands[argv[0]](argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
