#!/usr/bin/env bash
# The proof that durable-rooms is something to depend on: copies
# templates/starter to a fresh folder outside this checkout and runs the
# starter's own `npm test` there (native doctest of its room, its worker
# module, one round trip on workerd), against this checkout through
# DURABLE_ROOMS_DIR. Offline: the copy's node_modules links this checkout's
# packages and links durable-rooms itself to this checkout. Nothing here is
# written to. Prints the build + test time; with --measure, from a cold
# start (the core compiled too) and then a one-file rebuild time.
#   bash scripts/starter-proof.sh [--measure] [--keep]
# Without --measure (as in npm test) the starter links the core this
# checkout's build/native and build/wasm already compiled
# (DURABLE_ROOMS_PREBUILT_DIR), to keep npm test short.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_TAG=starter
. scripts/lib.sh
here=$(pwd -P)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/durable-rooms-starter.XXXXXX")
case "$tmp" in "$here"/*) die "temp folder $tmp is inside the checkout" ;; esac
MEASURE=0 KEEP=0
for a in "$@"; do
  case "$a" in
    --measure) MEASURE=1 ;;
    --keep) KEEP=1 ;;
    *) die "unknown argument: $a (--measure, --keep)" ;;
  esac
done
[ "$KEEP" = 1 ] || trap 'rm -rf "$tmp"' EXIT
if [ "$MEASURE" = 0 ] && [ -f build/native/libdurable_rooms_core.a ] && [ -f build/wasm/libdurable_rooms_core.a ]; then
  export DURABLE_ROOMS_PREBUILT_DIR="$here/build"
  say "linking the core of build/native and build/wasm (DURABLE_ROOMS_PREBUILT_DIR)"
fi
cp -r templates/starter/. "$tmp/"
mkdir "$tmp/node_modules"
for e in node_modules/* node_modules/.bin; do ln -s "$here/$e" "$tmp/node_modules/"; done
ln -s "$here" "$tmp/node_modules/durable-rooms"
say "copied templates/starter to $tmp"

before=$(git status --porcelain --untracked-files=all -- . ':!dist' ':!build' | sha1sum)
start=$(date +%s.%N)
(cd "$tmp" && DURABLE_ROOMS_DIR="$here" npm test)
cold=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
unchanged() {
  [ "$before" = "$(git status --porcelain --untracked-files=all -- . ':!dist' ':!build' | sha1sum)" ] \
    || die "the starter's build changed files of this checkout"
}
unchanged

# The two other ways a project gets durable-rooms, configured (natively and
# with Emscripten) in a bare copy of the starter: find_package after
# `cmake --install` of this checkout, and FetchContent from this checkout's
# git repository at HEAD. Configuring runs durable_rooms_add_module and
# generates every target; the build itself is the one proved above.
routes() {
  local bare="$tmp/routes" prefix="$tmp/prefix"
  mkdir -p "$bare"
  (cd templates/starter && cp -r CMakeLists.txt rooms tests "$bare/")
  cmake --install build/native --prefix "$prefix" >/dev/null || die "cmake --install build/native failed"
  local how dir
  for how in find_package fetchcontent; do
    for dir in native wasm; do
      local args=(-S "$bare" -B "$bare/build-$how-$dir" -DDURABLE_ROOMS_DIR=)
      if [ "$how" = find_package ]; then args+=(-DCMAKE_PREFIX_PATH="$prefix")
      else args+=(-DDURABLE_ROOMS_GIT_REPOSITORY="$here" -DDURABLE_ROOMS_GIT_TAG="$(git rev-parse HEAD)"); fi
      local log="$bare/configure-$how-$dir.log"
      if [ "$dir" = native ]; then env -u DURABLE_ROOMS_DIR cmake "${args[@]}" >"$log" 2>&1 || { cat "$log" >&2; die "$how ($dir) did not configure"; }
      else env -u DURABLE_ROOMS_DIR emcmake cmake "${args[@]}" >"$log" 2>&1 || { cat "$log" >&2; die "$how ($dir) did not configure"; }; fi
      if [ "$how" = find_package ]; then
        grep -q "^durable_rooms_DIR:PATH=$prefix/" "$bare/build-$how-$dir/CMakeCache.txt" \
          || die "find_package ($dir) did not find the installed package under $prefix"
      else
        [ -f "$bare/build-$how-$dir/_deps/durable_rooms-src/cmake/DurableRooms.cmake" ] \
          || die "FetchContent ($dir) did not fetch durable-rooms"
      fi
    done
    say "$how: the starter configures natively and with Emscripten"
  done
}
routes

if [ "$MEASURE" = 0 ]; then
  printf '[starter] build + test: %.0f s\n' "$cold"
  exit 0
fi

# One-file rebuild: touch the room's source, rebuild both trees and the bundle.
touch "$tmp/rooms/counter.cpp"
start=$(date +%s.%N)
(cd "$tmp" && DURABLE_ROOMS_DIR="$here" bash scripts/build.sh >/dev/null)
one=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
unchanged
printf '[starter] cold build + test: %.0f s; rebuild after touching rooms/counter.cpp: %.0f s\n' "$cold" "$one"
