#!/usr/bin/env bash
# Sets up what is missing, builds both targets, runs every test:
#   doctest natively (CTest), the same doctest suite compiled to Wasm under
#   node (CTest), and the end-to-end suite against workerd (node:test + ws).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
say() { printf '[test] %s\n' "$*"; }
say "doctest, native"
ctest --test-dir build/native --output-on-failure
say "doctest, compiled to Wasm, under node"
ctest --test-dir build/wasm --output-on-failure
say "end to end, workerd (Miniflare) + ws clients"
node --test --test-concurrency=1 tests/e2e/
say "all passed"
