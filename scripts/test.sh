#!/usr/bin/env bash
# Sets up what is missing, builds both targets, runs every test:
#   doctest natively (CTest, with the compile-fail cases and the wire check),
#   again under AddressSanitizer + UBSan, the libFuzzer targets for a fixed
#   number of inputs, the doctest files that prove portability compiled to
#   Wasm under node (CTest; which and why: CMakeLists.txt), the TypeScript declarations (tsc over tests/types), the starter
#   project built and tested from a copy outside this checkout
#   (scripts/starter-proof.sh), the browser client's node tests
#   (tests/client), the end-to-end suite against workerd (node:test + ws) and
#   the chat page in headless Chromium (tests/browser, playwright-core).
# Order, to keep both cores busy: what the workers need is built first
# (scripts/build.sh --dist), so that the end-to-end and browser suites, which
# mostly wait (idle hibernation, alarm retries), start early and run beside
# everything else. Then three pipelines share the cores: the rest of
# build/native and build/wasm with their suites, the tsc check and the
# starter; the sanitizer tree and its suite; the fuzz tree and its runs.
# Each pipeline's output is printed when it ends, and the run fails if any
# part failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NODE_PATH=/usr/share/nodejs   # Debian's emcc finds acorn there (a module relinked by cmake --build)
say() { printf '[test] %s\n' "$*"; }
START=$(date +%s)
JOBS=$(nproc)
mkdir -p build

say "what the workers need: shim/wire.js, dist/ (scripts/build.sh --dist)"
bash scripts/build.sh --dist

say "end to end, workerd (Miniflare) + ws clients: started in the background (build/e2e.log)"
node --test --test-concurrency=1 tests/e2e/ > build/e2e.log 2>&1 &
E2E=$!
say "the chat page in headless Chromium: started in the background (build/browser.log)"
node --test --test-concurrency=1 tests/browser/ > build/browser.log 2>&1 &
BROWSER=$!
stop_bg() { kill "$E2E" "$BROWSER" ${ASAN:-} ${FUZZ:-} 2>/dev/null || true; }
trap stop_bg EXIT

# The sanitizer tree and the fuzz tree build beside the rest; each takes
# both cores, so one's single-threaded stretches (links, running a suite or
# a fuzzer) leave the others a core.
# The sanitizer tree is clang's (the native one is g++'s): at -O0 with
# ASan+UBSan it compiles the suite in about half of g++'s time, and the
# suite then runs under both compilers.
say "doctest, native (clang) with AddressSanitizer and UBSan (build/asan): started in the background (build/asan.log)"
(
  cmake -S . -B build/asan -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DROOMS_SANITIZE=ON >/dev/null &&
  cmake --build build/asan -j"$JOBS" --target rooms_tests >/dev/null &&
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build/asan -R doctest --output-on-failure
) > build/asan.log 2>&1 &
ASAN=$!
say "fuzz targets, fixed seed (scripts/fuzz.sh): started in the background (build/fuzz.log)"
bash scripts/fuzz.sh 50000 > build/fuzz.log 2>&1 &
FUZZ=$!

say "the browser client, node (tests/client)"
node --test tests/client/
say "the rest of build/native (the doctest suite)"
cmake --build build/native -j"$JOBS" >/dev/null
say "doctest, native"
ctest --test-dir build/native --output-on-failure -j"$JOBS"
say "the rest of build/wasm (the doctest suite compiled to Wasm)"
cmake --build build/wasm -j"$JOBS" >/dev/null
say "doctest, compiled to Wasm, under node"
ctest --test-dir build/wasm --output-on-failure
say "TypeScript declarations (tsc -p tests/types)"
npx tsc -p tests/types
say "the starter, copied outside this checkout (scripts/starter-proof.sh)"
bash scripts/starter-proof.sh

say "fuzz: waiting for the runs"
if ! wait "$FUZZ"; then
  cat build/fuzz.log
  say "fuzz targets FAILED (log above, and in build/fuzz.log)"
  exit 1
fi
cat build/fuzz.log
say "sanitizers: waiting for the suite"
if ! wait "$ASAN"; then
  cat build/asan.log
  say "AddressSanitizer/UBSan suite FAILED (log above, and in build/asan.log)"
  exit 1
fi
grep -E "tests passed|tests failed" build/asan.log
say "end to end and browser: waiting for the suites"
status=0
browser_status=0
wait "$E2E" || status=$?
wait "$BROWSER" || browser_status=$?
trap - EXIT
if [ "$browser_status" -ne 0 ]; then
  cat build/browser.log
  say "browser suite FAILED (log above, and in build/browser.log)"
fi
if [ "$status" -ne 0 ]; then
  cat build/e2e.log
  say "end-to-end suite FAILED (log above, and in build/e2e.log)"
  exit "$status"
fi
[ "$browser_status" -eq 0 ] || exit "$browser_status"
grep -E '^# (tests|pass|fail|todo|duration_ms)' build/e2e.log
say "browser:"
grep -E '^# (tests|pass|fail|todo|duration_ms)' build/browser.log
say "all passed in $(( $(date +%s) - START )) s after setup"
