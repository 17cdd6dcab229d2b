#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan) and runs
# each (side by side) for a fixed number of inputs from a fixed seed, so a
# run is repeatable:
#   bash scripts/fuzz.sh [runs-per-target]        (default 20000)
# For a longer search: build/fuzz/<target> -max_total_time=600 <corpus-dir>
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20000}
command -v clang++ >/dev/null || { echo "[fuzz] ERROR: clang++ not found (Debian package clang)" >&2; exit 1; }
cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROOMS_FUZZ=ON >/dev/null
cmake --build build/fuzz -j"$(nproc)" --target decode_fuzz room_fuzz >/dev/null
# One fuzzer per target, side by side (each is single-threaded).
run() {  # target
  local t=$1 scratch="build/fuzz/corpus-$1" seeds=()
  # libFuzzer adds the inputs it finds to its first corpus directory: a fresh
  # scratch one, so the seeds in tests/fuzz/corpus/<target> stay as committed
  # and every run starts from the same place.
  rm -rf "$scratch" && mkdir -p "$scratch"
  [ -d "tests/fuzz/corpus/$t" ] && seeds=("tests/fuzz/corpus/$t")
  build/fuzz/$t -seed=1 -runs="$RUNS" -max_len=4096 "$scratch" "${seeds[@]}" > "build/fuzz/$t.log" 2>&1
}
pids=()
for t in decode_fuzz room_fuzz; do
  printf '[fuzz] %s: %s inputs, seed 1\n' "$t" "$RUNS"
  run "$t" & pids+=($!)
done
status=0 i=0
for t in decode_fuzz room_fuzz; do
  if wait "${pids[$i]}"; then
    grep -E "^Done" "build/fuzz/$t.log"
  else
    grep -E "ERROR|SUMMARY|Test unit written" "build/fuzz/$t.log" >&2 || tail -20 "build/fuzz/$t.log" >&2
    echo "[fuzz] $t found a failure (full report: build/fuzz/$t.log)" >&2
    status=1
  fi
  i=$((i + 1))
done
exit "$status"
