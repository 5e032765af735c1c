#!/usr/bin/env bash
# Installs what the server's integration tests (tests/server, docs/server.md) need besides Node
# (20 or later, as on the CI machine): Debian's chromium and curl (through install-deps.sh) and the
# pinned OpenAI npm client (`npm ci` from tests/server/package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh chromium curl
(cd tests/server && npm ci --no-audit --no-fund)
