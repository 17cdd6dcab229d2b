#!/usr/bin/env bash
# Sets up what is missing, builds both targets, runs every test:
#   doctest natively (CTest), again under AddressSanitizer + UBSan, the
#   libFuzzer targets for a fixed number of inputs, the same doctest suite
#   compiled to Wasm under node (CTest), and the end-to-end suite against
#   workerd (node:test + ws); then the TypeScript declarations (tsc over
#   tests/types) and the starter project built from a copy outside this
#   checkout (scripts/starter-proof.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
say() { printf '[test] %s\n' "$*"; }
say "doctest, native"
ctest --test-dir build/native --output-on-failure
say "doctest, native with AddressSanitizer and UBSan (build/asan)"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DROOMS_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$(nproc)" --target rooms_tests gen_wire >/dev/null
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --test-dir build/asan --output-on-failure
say "fuzz targets, fixed seed (scripts/fuzz.sh)"
bash scripts/fuzz.sh 50000
say "doctest, compiled to Wasm, under node"
ctest --test-dir build/wasm --output-on-failure
say "end to end, workerd (Miniflare) + ws clients"
node --test --test-concurrency=1 tests/e2e/
say "TypeScript declarations (tsc -p tests/types)"
npx tsc -p tests/types
say "the starter, copied outside this checkout (scripts/starter-proof.sh)"
bash scripts/starter-proof.sh
say "all passed"
