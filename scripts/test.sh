#!/usr/bin/env bash
# Sets up what is missing, builds both targets, runs every test:
#   doctest natively (CTest, with the compile-fail cases and the wire check),
#   again under AddressSanitizer + UBSan, the libFuzzer targets for a fixed
#   number of inputs, the same doctest suite compiled to Wasm under node
#   (CTest), the TypeScript declarations (tsc over tests/types), the starter
#   project built and tested from a copy outside this checkout
#   (scripts/starter-proof.sh), and the end-to-end suite against workerd
#   (node:test + ws).
# The end-to-end suite mostly waits (idle hibernation, alarm retries), so it
# runs beside the other steps; its output is printed when it ends, and the
# run fails if any part failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
say() { printf '[test] %s\n' "$*"; }
START=$(date +%s)

say "doctest, native"
ctest --test-dir build/native --output-on-failure

say "end to end, workerd (Miniflare) + ws clients: started in the background (build/e2e.log)"
node --test --test-concurrency=1 tests/e2e/ > build/e2e.log 2>&1 &
E2E=$!
stop_e2e() { kill "$E2E" 2>/dev/null || true; }
trap stop_e2e EXIT

say "doctest, native with AddressSanitizer and UBSan (build/asan)"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DROOMS_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$(nproc)" --target rooms_tests >/dev/null
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build/asan -R doctest --output-on-failure
say "fuzz targets, fixed seed (scripts/fuzz.sh)"
bash scripts/fuzz.sh 50000
say "doctest, compiled to Wasm, under node"
ctest --test-dir build/wasm --output-on-failure
say "TypeScript declarations (tsc -p tests/types)"
npx tsc -p tests/types
say "the starter, copied outside this checkout (scripts/starter-proof.sh)"
bash scripts/starter-proof.sh

say "end to end: waiting for the suite"
status=0
wait "$E2E" || status=$?
trap - EXIT
if [ "$status" -ne 0 ]; then
  cat build/e2e.log
  say "end-to-end suite FAILED (log above, and in build/e2e.log)"
  exit "$status"
fi
grep -E '^# (tests|pass|fail|duration_ms)' build/e2e.log
say "all passed in $(( $(date +%s) - START )) s after the build"
