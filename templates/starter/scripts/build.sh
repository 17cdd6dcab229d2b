#!/usr/bin/env bash
# Builds the rooms twice from the same sources:
#   build/native  the native doctest of your rooms (g++ or clang)
#   build/wasm    the worker module, build/wasm/module/{core.mjs,core.wasm,
#                 rooms.meta.js,rooms.d.ts} (Emscripten: emcmake, em++)
# then bundles the worker (dist/bundle, `wrangler deploy --dry-run`).
#   NATIVE=0 skips the native build; JOBS sets the parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}   # Debian's emcc finds acorn there
export WRANGLER_SEND_METRICS=false
JOBS=${JOBS:-$(nproc)}
say() { printf '[build] %s\n' "$*"; }
if [ "${NATIVE:-1}" != 0 ]; then
  say "native (build/native)"
  cmake -S . -B build/native >/dev/null
  cmake --build build/native -j"$JOBS"
fi
say "wasm (build/wasm)"
emcmake cmake -S . -B build/wasm >/dev/null
cmake --build build/wasm -j"$JOBS"
say "bundle (dist/bundle)"
rm -rf dist/bundle
npx wrangler deploy --dry-run --outdir "$PWD/dist/bundle" > build/bundle.log 2>&1 || { cat build/bundle.log >&2; exit 1; }
