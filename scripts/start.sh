#!/usr/bin/env bash
# Sets up what is missing, builds, and serves the chat example locally
# (workerd through Miniflare) on PORT (default 8787) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec node scripts/serve.mjs
