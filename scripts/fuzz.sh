#!/usr/bin/env bash
# Fuzzes the client-frame and broadcast-body parsers with cargo-fuzz (libFuzzer) for a
# bounded time: `bash scripts/fuzz.sh [seconds per target, default 60]`.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT/fuzz"

SECONDS_PER_TARGET="${1:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "Installing cargo-fuzz (compiles from source, about 2 minutes)"
  cargo install cargo-fuzz --version 0.13.2
fi

seed() {
  mkdir -p "corpus/$1"
  shift
  local i=0
  for s in "$@"; do
    printf '%s' "$s" > "corpus/${target}/seed-$i"
    i=$((i + 1))
  done
}
target=client_frame seed client_frame \
  '{"type":"auth","token":"dev:alice","roomId":"room-1","userId":"u1"}' \
  '{"type":"typing","isTyping":true}' '{"type":"ping","t":{"a":[1,2.5,null]}}' '[]' '{"type":7}'
target=broadcast_body seed broadcast_body \
  '{"roomId":"room-1","message":{"type":"message.created","id":"m1"},"excludeConnectionIds":["abc"]}' \
  '{"roomId":"r","message":{"type":"x"}}' '{"roomId":"a/b"}'

for target in client_frame broadcast_body; do
  say "Fuzzing $target for ${SECONDS_PER_TARGET}s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" --fuzz-dir . "corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::|Done|INFO: seed|==[0-9]+== ERROR|SUMMARY|artifact_prefix|Test unit written)" || true
  if [ -d "artifacts/$target" ] && [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
    echo "crash inputs found in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
say "No crashes"
