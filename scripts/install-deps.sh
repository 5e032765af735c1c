#!/usr/bin/env bash
# Installs the Debian 12 packages veloxquant needs, plus any named as arguments (`make lint`
# adds clang-tidy and cppcheck). Idempotent: skips apt when all are present.
set -euo pipefail
packages=(cmake ninja-build g++ clang libhwy-dev libgtest-dev libgmock-dev libbenchmark-dev
          pybind11-dev python3-dev python3-numpy python3-pytest
          python3-setuptools python3-wheel python3-venv python3-pip  # pip install . (scripts/test-pip-install.sh)
          python3-torch libopenblas0-pthread  # veloxquant.torch tests; OpenBLAS: reference BLAS is ~50x slower
          ccache  # the several builds of make test, sanitize, tsan and pip share compiled objects
          libpcre2-dev  # the tokenizer's pre-tokenizer regexes
          python3-sentencepiece  # the SentencePiece reference of the tokenizer tests
          libcpp-httplib-dev curl  # `veloxquant serve`; curl: its SSE test
          libclang-rt-14-dev "$@")  # libclang-rt: libFuzzer (make fuzz-smoke)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
