#!/usr/bin/env bash
# `pip install .`, `pip install --no-build-isolation .` and `pip install -e ".[dev]"` in a fresh
# venv (/usr/bin/python3 -m venv --system-site-packages), with Debian packages only: no package
# index is used (PIP_NO_INDEX), so a build that needed one fails here. After each install the
# packages are imported from outside the source tree and the seed's quick start and CLI run.
#
# Real installs, made fast: the CMake build directory of setup.py (build-pip/, or
# $VELOXQUANT_BUILD_DIR) persists between runs and ccache is used when installed, so only the
# first run compiles the library. Usage: bash scripts/test-pip-install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
py="$work/venv/bin/python"

check() {  # $1: what was installed; imports from $work, not from the source tree
  (cd "$work" && "$py" - "$root" <<'EOF'
import sys, pathlib
import numpy as np
import veloxquant, mlx_kv_quant
root = pathlib.Path(sys.argv[1])
where = pathlib.Path(veloxquant.__file__).resolve()
print("veloxquant", veloxquant.__version__, "from", where)
from mlx_kv_quant import KVCacheBuilder
cache = (KVCacheBuilder().with_method("turboquant_prod").with_head_dim(128).with_bit_width(inlier=2, outlier=3)
         .with_jl_dim(128).with_n_outlier_channels(4).with_seed(42).with_precision(np.float16).build())
rng = np.random.default_rng(0)
for _ in range(100):
    cache.append(rng.standard_normal(128).astype(np.float16), rng.standard_normal(128).astype(np.float16))
out = cache.attend(rng.standard_normal(128).astype(np.float16))
assert out.shape == (128,) and np.isfinite(out).all()
print(f"quick start: Memory: {cache.memory_bytes() / 1024:.1f} KB for {len(cache)} tokens")
EOF
  )
  (cd "$work" && "$py" -m mlx_kv_quant precompute --head_dim 64 --bits 2 3 --seed 1 --output_dir ./artifacts/ >/dev/null)
  test -f "$work/artifacts/manifest.json"
  echo "test-pip-install: $1 OK"
}

"$py" -m pip install --quiet .
check "pip install ."
case "$("$py" -c 'import veloxquant; print(veloxquant.__file__)')" in
  "$work"/venv/*) ;;
  *) echo "test-pip-install: pip install . did not install into the venv" >&2; exit 1 ;;
esac
"$py" -m pip uninstall --quiet -y veloxquant

"$py" -m pip install --quiet --no-build-isolation .
check "pip install --no-build-isolation ."
"$py" -m pip uninstall --quiet -y veloxquant

"$py" -m pip install --quiet -e ".[dev]"
check 'pip install -e ".[dev]"'
case "$("$py" -c 'import veloxquant; print(veloxquant.__file__)')" in
  "$root"/python/*) ;;
  *) echo "test-pip-install: the editable install does not import from python/" >&2; exit 1 ;;
esac
"$py" -c "import pytest" # the dev extra (Debian's python3-pytest)
"$py" -m pip uninstall --quiet -y veloxquant
rm -f "$root"/python/veloxquant/_core*.so
echo "test-pip-install: all OK"
