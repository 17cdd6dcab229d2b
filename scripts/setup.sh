#!/usr/bin/env bash
# Installs what durable-rooms needs and is missing, and nothing else.
# Idempotent; safe to run before every build. Needs root (or sudo) only when
# a Debian package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Debian packages: command or file that proves each is present.
declare -A APT=(
  [emscripten]=/usr/bin/em++
  [rapidjson-dev]=/usr/include/rapidjson/document.h
  [doctest-dev]=/usr/include/doctest/doctest.h
  [cmake]=/usr/bin/cmake
  [g++]=/usr/bin/g++
  [node-acorn]=/usr/share/nodejs/acorn
  [clang]=/usr/bin/clang++                     # the fuzz targets (libFuzzer)
  [libclang-rt-14-dev]=/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a
)
missing=()
for pkg in "${!APT[@]}"; do
  [ -e "${APT[$pkg]}" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root to install: ${missing[*]}"
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || die "apt-get update failed (no access to Debian mirrors?)"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}"
  for pkg in "${missing[@]}"; do
    [ -e "${APT[$pkg]}" ] || die "package $pkg installed but ${APT[$pkg]} is still missing"
  done
else
  say "Debian packages present"
fi

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
