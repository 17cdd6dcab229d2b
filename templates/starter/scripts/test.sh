#!/usr/bin/env bash
# Builds, then runs the native doctest of the rooms (CTest) and the
# end-to-end round trip on workerd (node:test, a ws client).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
printf '[test] %s\n' "doctest, native"
ctest --test-dir build/native --output-on-failure
printf '[test] %s\n' "end to end, workerd (Miniflare) + ws"
node --test tests/
