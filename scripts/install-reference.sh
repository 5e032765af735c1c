#!/usr/bin/env bash
# Installs the llama.cpp reference of the runner's parity tests: node-llama-cpp, pinned by
# tests/reference/package-lock.json (llama.cpp's prebuilt CPU libraries; no compiler, runs offline
# once installed). Node and npm come from Debian when absent. Idempotent: when the installed tree
# matches the lockfile (a stamp with its checksum), it returns at once.
set -euo pipefail
dir="$(cd "$(dirname "$0")/../tests/reference" && pwd)"
stamp="$dir/node_modules/.veloxquant-lock.sha256"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-reference: installing nodejs and npm (Debian)" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi

# node-llama-cpp 3.22.1 declares Node >= 20 (Debian 12's own nodejs is 18). Without it the parity
# tests skip with a message saying so, or fail where VELOXQUANT_REQUIRE_REFERENCE=1 (CI).
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "install-reference: node $(node --version) is older than 20, which node-llama-cpp 3.22.1 needs;" \
    "the llama.cpp reference is not installed (install Node >= 20 and run this again)" >&2
  exit 0
fi

want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

cd "$dir"
echo "install-reference: installing node-llama-cpp from tests/reference/package-lock.json" >&2
# --ignore-scripts: node-llama-cpp's postinstall would try to build llama.cpp when no prebuilt
# binary fits; the tool only loads the prebuilt ones (build: "never").
# `npm ci` refuses a lockfile that lacks the optional packages of other platforms (mac, win),
# which a registry mirror without them cannot resolve; `npm install --no-save` then installs the
# same locked versions and leaves the lockfile as it is.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
  echo "install-reference: npm ci refused ($(grep -m1 -o 'Missing: [^ ]*' "$log" || echo "see below"));" \
    "installing the locked versions with npm install --no-save" >&2
  npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error || { cat "$log" >&2; exit 1; }
fi
node -e 'import("node-llama-cpp").then(() => {}, (e) => { console.error(e); process.exit(1); })'
echo "$want" >"$stamp"
