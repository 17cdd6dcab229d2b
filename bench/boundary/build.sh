#!/usr/bin/env bash
# Builds the boundary micro-benchmark (bench/boundary/boundary.cpp) into
# build/boundary/boundary.cjs + .wasm: one module holding both the embind
# functions and the plain C exports, with the flags workerd needs
# (no eval / new Function, no async compile).
# Usage: bash bench/boundary/build.sh   then   node bench/boundary/run.mjs
set -euo pipefail
cd "$(dirname "$0")/../.."
export NODE_PATH=/usr/share/nodejs   # Debian's emcc finds acorn there
mkdir -p build/boundary
em++ -O2 -std=c++20 bench/boundary/boundary.cpp -o build/boundary/boundary.cjs \
  --bind -lembind \
  -sDYNAMIC_EXECUTION=0 -sENVIRONMENT=node -sMODULARIZE=1 -sEXPORT_ES6=0 \
  -sWASM_ASYNC_COMPILATION=0 -sALLOW_MEMORY_GROWTH=1 \
  -sEXPORTED_FUNCTIONS=_malloc,_free,_c_noop,_c_input,_c_str \
  -sEXPORTED_RUNTIME_METHODS=HEAPU8
ls -l build/boundary/boundary.cjs build/boundary/boundary.wasm
