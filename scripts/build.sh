#!/usr/bin/env bash
# Builds both targets from the same sources:
#   build/native  the core, tests, benchmarks and the wire-constant
#                 generator (g++); it rewrites shim/wire.js
#   build/wasm    dist/wasm/{core.mjs,core.wasm,rooms.meta.js,rooms.d.ts} for
#                 the worker (chat room), dist/wasm-test/ (chat + probe, for
#                 the e2e test worker), both by durable_rooms_add_module(),
#                 and the same doctest suite compiled to Wasm (Emscripten)
# then the deployable bundles (dist/bundle, dist/test-bundle).
# A build dir configured for another source tree (a copied or moved
# checkout) is wiped first: CMake refuses to reuse its cache.
#   bash scripts/build.sh --configure-only   stop after configuring
#   bash scripts/build.sh --dist             only what the workers need
#     (shim/wire.js, dist/wasm, dist/wasm-test, the bundles): npm test
#     builds that first, starts the end-to-end suites, then builds the rest
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=/usr/share/nodejs   # Debian's emcc finds acorn there
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
JOBS=${JOBS:-$(nproc)}
say() { printf '[build] %s\n' "$*"; }

# Wipes every build/*/ whose CMakeCache.txt names another source directory
# (CMAKE_HOME_DIRECTORY), e.g. after copying the checkout elsewhere.
wipe_foreign_caches() {
  local here cache dir home
  here=$(pwd -P)
  for cache in build/*/CMakeCache.txt; do
    [ -f "$cache" ] || continue
    dir=$(dirname "$cache")
    home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache" | head -n1)
    if [ -z "$home" ] || [ "$(cd "$home" 2>/dev/null && pwd -P)" != "$here" ]; then
      say "$dir was configured for ${home:-an unknown source dir}, not $here: wiping it"
      rm -rf "$dir"
    fi
  done
}
wipe_foreign_caches
CONFIGURE_ONLY=0 DIST=0
case "${1:-}" in
  --configure-only) CONFIGURE_ONLY=1 ;;
  --dist) DIST=1 ;;
  "") ;;
  *) echo "[build] ERROR: unknown argument $1 (--configure-only, --dist)" >&2; exit 1 ;;
esac
# --dist: the wire generator natively; the worker modules and their metadata in Wasm.
native_targets=() wasm_targets=()
[ "$DIST" = 1 ] && native_targets=(--target gen_wire) wasm_targets=(--target core core_metadata core_test core_test_metadata)

say "native (build/native)"
cmake -S . -B build/native -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" >/dev/null
[ "$CONFIGURE_ONLY" = 1 ] || cmake --build build/native -j"$JOBS" "${native_targets[@]}"

say "wire protocol constants (shim/wire.js, from wasm/core/src/runtime/wire.h)"
build/native/gen_wire > shim/wire.js.tmp && mv shim/wire.js.tmp shim/wire.js

say "wasm (build/wasm)"
emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release >/dev/null
[ "$CONFIGURE_ONLY" = 1 ] && { say "configured (--configure-only)"; exit 0; }
cmake --build build/wasm -j"$JOBS" "${wasm_targets[@]}"

bundle() {  # config outdir
  rm -rf "$2"
  npx wrangler deploy --dry-run --config "$1" --outdir "$PWD/$2" 2>&1 | grep -E 'Total Upload|ERROR|rror:' || true
  test -f "$2/index.js" || { echo "[build] ERROR: wrangler did not produce $2/index.js" >&2; exit 1; }
}
say "worker bundles (dist/bundle: the chat example; dist/test-bundle: the e2e test worker)"
bundle wrangler.jsonc dist/bundle
bundle tests/e2e/worker/wrangler.jsonc dist/test-bundle
say "done"
