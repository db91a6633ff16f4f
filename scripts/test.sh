#!/usr/bin/env bash
# Every test, one command (`npm test`): set-up, formatting, lints, native unit tests,
# then the end-to-end suite against wrangler dev (real workerd) and the dev backend.
# Extra arguments filter the end-to-end tests by name: `npm test -- typing ping`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

bash scripts/setup.sh --browser   # the browser test needs Chromium (or CHROMIUM_PATH)

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy (host, all targets) and clippy (wasm32, the Worker)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown -p nativor-chat-worker -- -D warnings

say "Native unit tests"
cargo test --workspace --exclude e2e

say "Web client unit tests (node --test clients/web/test: reconnect policy, parsing, presence, token refresh, client) and its TypeScript declarations (tsc)"
WEB_LOG="$(mktemp)"
if node --test --test-reporter=spec clients/web/test/*.test.mjs >"$WEB_LOG" 2>&1; then
  grep -E '^ℹ (tests|pass|fail|duration_ms) ' "$WEB_LOG" || cat "$WEB_LOG"
  rm -f "$WEB_LOG"
else
  cat "$WEB_LOG"
  rm -f "$WEB_LOG"
  exit 1
fi
# clients/web/nativor-chat.d.ts against a usage example whose @ts-expect-error lines fail the
# check if a type degrades to `any`. tsc is the pinned devDependency; a type error fails the step.
"$ROOT/node_modules/.bin/tsc" -p clients/web/test/types
echo "tsc: clients/web/nativor-chat.d.ts and clients/web/test/types/usage.ts type-check"

say "End-to-end tests (builds the Worker, then starts wrangler dev and the dev backend on free loopback ports)"
cargo test -p e2e -- "$@"

if [ "$#" -eq 0 ]; then
  # Proves the benchmark runs end to end (servers start, deliveries verified, JSON
  # written). Small sizes, one round; its timings are printed, never asserted.
  say "Benchmark, quick mode (proof that it works; timings are not checked)"
  # The end-to-end step just built the release bundle: reuse it.
  NATIVOR_PREBUILT=1 bash scripts/bench.sh --quick
fi
