#!/usr/bin/env bash
# Installs what durable-rooms needs and is missing, and nothing else.
# Idempotent; safe to run before every build. Needs root (or sudo) only when
# a Debian package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_TAG=setup
. scripts/lib.sh

# Each Debian package, proved present by a file it installs.
ensure_debian_packages \
  emscripten=/usr/bin/em++ \
  rapidjson-dev=/usr/include/rapidjson/document.h \
  doctest-dev=/usr/include/doctest/doctest.h \
  cmake=/usr/bin/cmake \
  g++=/usr/bin/g++ \
  node-acorn=/usr/share/nodejs/acorn \
  clang=/usr/bin/clang++ \
  libboost1.81-dev=/usr/include/boost/describe.hpp \
  libclang-rt-14-dev=/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a \
  chromium=/usr/bin/chromium
say "Debian packages present"

command -v node >/dev/null || die "node is missing; install Node.js 20 (nodesource) first"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node.js >= 20 required, found $(node --version)"

# npm dependencies (wrangler pinned in package.json / package-lock.json).
if [ ! -x node_modules/.bin/wrangler ] || [ package.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed (npm registry reachable?)"
  else
    npm install --no-audit --no-fund --loglevel=error || die "npm install failed"
  fi
else
  say "npm dependencies present"
fi
say "ready"
