#!/usr/bin/env bash
# `npm run bench [-- --quick]`: the benchmark suite of durable-rooms.
#   1. sizes: the chat module (.wasm, gzip) and the deployable bundles
#      (`wrangler deploy --dry-run`: "Total Upload: X / gzip: Y")
#   2. core micro-benchmark in node (bench/micro.mjs): per event, crossings,
#      instantiation; then the C++ core benchmark, native and Wasm, if built
#   3. end to end (bench/e2e/run.mjs): the chat rooms and the floor in one local workerd
#      under node ws clients, 10 / 100 / 1,000 sockets per room; in full runs
#      also one room of 10,000 sockets (bench/e2e/scale.mjs)
#   4. the summary (bench/e2e/report.mjs): table, targets met or missed, plot,
#      and last the RESULT lines.
# A full run takes ~15 minutes on 2 cores (the 10,000-socket row ~2 of them);
# --quick about 3. Results go to
# dist/bench-results/; a full run also rewrites bench/plot/throughput.{dat,png}.
# Builds first when dist/wasm is missing or older than the sources (via
# scripts/setup.sh + scripts/build.sh; BENCH_NO_BUILD=1 skips that).
# `npm test` never runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=/usr/share/nodejs WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
SCRIPT_TAG=bench
. scripts/lib.sh

QUICK=""
for a in "$@"; do
  case "$a" in
    --quick) QUICK=--quick ;;
    *) die "unknown argument: $a (only --quick)" ;;
  esac
done
START=$(date +%s)
OUT=dist/bench-results
mkdir -p "$OUT"

# ---- prerequisites ---------------------------------------------------------------
# gnuplot for the PNG.
ensure_debian_packages gnuplot-nox=/usr/bin/gnuplot

# npm packages of the bench rooms (devDependencies), and the built core.
if [ ! -d node_modules/partyserver ] || [ ! -d node_modules/effect ] || [ ! -x node_modules/.bin/wrangler ]; then
  bash scripts/setup.sh
fi
stale=""
for f in dist/wasm/core.wasm dist/wasm-bench/core.wasm dist/wasm-bench/core.mjs dist/wasm-bench/rooms.meta.js; do
  [ -f "$f" ] || stale="missing $f"
done
if [ -z "$stale" ]; then
  newer=$(find wasm bench/rooms CMakeLists.txt tools -newer dist/wasm-bench/core.wasm -type f 2>/dev/null | head -1)
  [ -n "$newer" ] && stale="$newer is newer than dist/wasm-bench/core.wasm"
fi
if [ -n "$stale" ] && [ -n "${BENCH_NO_BUILD:-}" ]; then
  say "BENCH_NO_BUILD set: using dist/wasm as it is ($stale)"
elif [ -n "$stale" ]; then
  say "building first ($stale)"
  bash scripts/setup.sh
  bash scripts/build.sh
fi
# The bench worker's modules (dist/wasm-bench: the chat handlers with the
# budgets off, and the example's own room as chat-full; dist/wasm-bench-coalesced:
# the same with coalesced delivery)
# are not part of the default build.
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  NODE_PATH=/usr/share/nodejs cmake --build build/wasm -j"$(nproc)" --target core_bench core_bench_metadata core_bench_coalesced core_bench_coalesced_metadata core_plus_counter >/dev/null \
    || die "building dist/wasm-bench failed"
fi

# ---- 1. sizes ------------------------------------------------------------------------
bundle() {  # config outdir → prints wrangler's "Total Upload" line
  rm -rf "$2"
  local log
  log=$(npx wrangler deploy --dry-run --config "$1" --outdir "$PWD/$2" 2>&1) || { echo "$log" >&2; die "wrangler deploy --dry-run --config $1 failed"; }
  echo "$log" | grep -E 'Total Upload' || die "no 'Total Upload' line from wrangler for $1"
}
say "bundling the bench worker (bench/e2e/wrangler.jsonc → dist/bench-bundle)"
BENCH_UPLOAD=$(bundle bench/e2e/wrangler.jsonc dist/bench-bundle)
say "bundling the chat example for its size (wrangler.jsonc → dist/bench-chat-bundle)"
CHAT_UPLOAD=$(bundle wrangler.jsonc dist/bench-chat-bundle)
WASM_BYTES=$(stat -c %s dist/wasm/core.wasm)
WASM_GZ9=$(gzip -9 -c dist/wasm/core.wasm | wc -c)
WASM_GZ6=$(gzip -6 -c dist/wasm/core.wasm | wc -c)
WASM_SHA=$(sha256sum dist/wasm/core.wasm | cut -c1-12)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- wasm shim 2>/dev/null || echo "+changes")
cat > "$OUT/sizes.json" <<EOF
{ "commit": "$COMMIT", "wasmSha256": "$WASM_SHA", "wasmBytes": $WASM_BYTES, "wasmGzip9": $WASM_GZ9, "wasmGzip6": $WASM_GZ6,
  "chatUpload": "$(echo "$CHAT_UPLOAD" | sed 's/^ *//')", "benchUpload": "$(echo "$BENCH_UPLOAD" | sed 's/^ *//')" }
EOF
echo
echo "== sizes (commit $COMMIT, core.wasm sha256 $WASM_SHA…) =="
awk -v b="$WASM_BYTES" -v g9="$WASM_GZ9" -v g6="$WASM_GZ6" \
  'BEGIN { printf "  dist/wasm/core.wasm: %.1f KiB, gzip -9 %.1f KiB (gzip -6 %.1f KiB)\n", b/1024, g9/1024, g6/1024 }'
if [ -f dist/wasm-plus-counter/core.wasm ]; then
  PLUS=$(stat -c %s dist/wasm-plus-counter/core.wasm)
  awk -v b="$WASM_BYTES" -v p="$PLUS" \
    'BEGIN { printf "  one more room type (chat + the starter'"'"'s counter, dist/wasm-plus-counter): %.1f KiB, +%.1f KiB\n", p/1024, (p-b)/1024 }'
fi
echo "  chat example bundle (wrangler.jsonc): $(echo "$CHAT_UPLOAD" | sed 's/^ *//')"
echo "  bench worker bundle (bench/e2e/wrangler.jsonc: seven rooms and the two scale rooms): $(echo "$BENCH_UPLOAD" | sed 's/^ *//')"

# ---- 2. micro-benchmarks ---------------------------------------------------------------
echo
echo "== core micro-benchmark, JS side (bench/micro.mjs) =="
node bench/micro.mjs $QUICK --json "$OUT/micro.json" | tee "$OUT/micro.txt"
echo "== the Wasm boundary: embind against plain C exports (bench/boundary) =="
bash bench/boundary/build.sh >/dev/null && node bench/boundary/run.mjs | tee "$OUT/boundary.txt"
# The core benchmarks are not part of the default build.
cmake --build build/native -j"$(nproc)" --target rooms_bench >/dev/null || die "building build/native/rooms_bench failed"
NODE_PATH=/usr/share/nodejs cmake --build build/wasm -j"$(nproc)" --target rooms_bench >/dev/null \
  || die "building build/wasm/rooms_bench.cjs failed"
for bin in build/release/rooms_bench build/native/rooms_bench; do
  if [ -x "$bin" ]; then
    echo; echo "== C++ core benchmark, native ($bin) =="
    "$bin" | tee "$OUT/core_bench_native.txt"
    break
  fi
done
if [ -f build/wasm/rooms_bench.cjs ]; then
  echo; echo "== C++ core benchmark, Wasm under node (build/wasm/rooms_bench.cjs) =="
  node build/wasm/rooms_bench.cjs | tee "$OUT/core_bench_wasm.txt"
fi

# ---- 3. end to end ------------------------------------------------------------------------
echo
echo "== end to end: seven rooms in one workerd (bench/e2e/run.mjs) =="
node bench/e2e/run.mjs $QUICK --no-summary --json "$OUT/e2e.json"

# The 10,000-socket row (full runs only; about 2 minutes).
if [ -z "$QUICK" ]; then
  echo
  echo "== scale: 10,000 sockets in one room, four client processes (bench/e2e/scale.mjs) =="
  node bench/e2e/scale.mjs --json "$OUT/scale.json"
else
  rm -f "$OUT/scale.json"
fi

# ---- 4. summary ---------------------------------------------------------------------------
PLOT_DIR=bench/plot
[ -n "$QUICK" ] && PLOT_DIR=$OUT   # a quick run never replaces the committed plot
node bench/e2e/report.mjs --results "$OUT" --plot-data "$PLOT_DIR/throughput.dat" --quiet-results > "$OUT/summary.txt"
gnuplot -e "datafile='$PLOT_DIR/throughput.dat'; outfile='$PLOT_DIR/throughput.png'" bench/plot/throughput.gp \
  || die "gnuplot failed"
cat "$OUT/summary.txt"
echo "plot: $PLOT_DIR/throughput.png; raw results: $OUT/; total $(( $(date +%s) - START )) s"
echo
node bench/e2e/report.mjs --results "$OUT" --results-only
