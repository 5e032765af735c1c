#!/usr/bin/env bash
# What `make test-arm64` needs on Debian 12 x86-64: the aarch64 cross compiler, qemu-user, and the
# arm64 builds of the libraries (multiarch). Idempotent: skips apt when all are present.
set -euo pipefail
packages=(g++-aarch64-linux-gnu qemu-user-static libhwy-dev:arm64 libgtest-dev:arm64 libgmock-dev:arm64
          libbenchmark-dev:arm64 libpcre2-dev:arm64 libcpp-httplib-dev:arm64)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-arm64: installing ${missing[*]}" >&2
dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
