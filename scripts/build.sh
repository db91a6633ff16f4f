#!/usr/bin/env bash
# Builds the Worker bundle into build/ (wrangler's [build] command runs this).
# Release by default (wasm-opt -Oz via binaryen from npm, then without the name section unless
# BUILD_KEEP_NAMES=1); BUILD_PROFILE=dev for a fast debug build.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
# A git-ignored copy, before any early exit: the client lives in clients/web/, assets are served from public/.
for f in nativor-chat.js nativor-chat.d.ts; do
  cmp -s "clients/web/$f" "public/$f" || cp "clients/web/$f" "public/$f"
done
# The end-to-end harness builds once, then starts several `wrangler dev`s that must not
# rebuild build/ underneath each other.
if [ "${NATIVOR_PREBUILT:-}" = "1" ] && [ -f build/index.js ]; then
  echo "build/: prebuilt, not rebuilding (NATIVOR_PREBUILT=1)"
  exit 0
fi
export_tool_overrides
for bin in "$WASM_BINDGEN_BIN" "$ESBUILD_BIN" "$WASM_OPT_BIN"; do
  if [ ! -x "$bin" ]; then
    echo "missing $bin: run 'npm run setup' (scripts/setup.sh) first" >&2
    exit 1
  fi
done
if ! command -v worker-build >/dev/null; then
  echo "missing worker-build: run 'npm run setup' (scripts/setup.sh) first" >&2
  exit 1
fi
if [ "${BUILD_PROFILE:-release}" = "dev" ]; then
  exec worker-build --dev
fi
worker-build --release
# The wasm's name section (function names, ~45 KB gzip) is dropped from the release bundle:
# a panic still logs its message and source location, only wasm backtrace frames lose their
# names. BUILD_KEEP_NAMES=1 keeps them, for profiling with perf (see docs/benchmarks.md).
if [ "${BUILD_KEEP_NAMES:-}" != "1" ]; then
  "$WASM_OPT_BIN" build/index_bg.wasm --strip-debug --all-features -o build/index_bg.wasm
fi
