# Shared helpers for the scripts in this folder. Source it; do not run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false
# workers-rs tool versions: worker-build is pinned here, wasm-bindgen comes from Cargo.lock.
WORKER_BUILD_VERSION="0.8.7"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# The wasm-bindgen version the crate is locked to; the CLI must match it exactly.
locked_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# worker-build downloads wasm-bindgen, esbuild and wasm-opt unless told where they are.
export_tool_overrides() {
  export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
  export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
  export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
}
