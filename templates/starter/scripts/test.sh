#!/usr/bin/env bash
# Builds, then type-checks the worker against the generated room types (tsc),
# runs the native doctest of the rooms (CTest) and the end-to-end round trip
# on workerd (node:test, a ws client).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
printf '[test] %s\n' "worker types (tsc: worker/index.js against build/wasm/module/rooms.d.ts)"
npx tsc -p tsconfig.json
printf '[test] %s\n' "doctest, native"
ctest --test-dir build/native --output-on-failure
printf '[test] %s\n' "end to end, workerd (Miniflare) + ws"
node --test tests/
