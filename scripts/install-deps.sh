#!/usr/bin/env bash
# Installs the Debian 12 packages veloxquant needs, plus any named as arguments (`make lint`
# adds clang-tidy and cppcheck). Idempotent: skips apt when all are present.
set -euo pipefail
packages=(cmake ninja-build g++ clang libhwy-dev libgtest-dev libgmock-dev libbenchmark-dev
          pybind11-dev python3-dev python3-numpy python3-pytest
          libclang-rt-14-dev libcpp-httplib-dev curl "$@")  # libclang-rt: libFuzzer (make fuzz-smoke);
          # cpp-httplib: `veloxquant serve`; curl: its SSE test
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
