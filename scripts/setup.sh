#!/usr/bin/env bash
# Idempotent set-up: installs every tool the build, dev server and deploys need, skipping
# whatever is already present at the right version. Works wherever Rust and Node.js are
# (Linux, macOS): nothing here needs apt-get or a browser.
#   bash scripts/setup.sh             the tools (npm run dev, deploy and preview call this)
#   bash scripts/setup.sh --browser   also Chromium for the browser test (npm test calls this):
#     CHROMIUM_PATH if set (must be executable), else /usr/bin/chromium, else installed
#     with apt-get where it exists; otherwise it fails and says how to provide one. Also a
#     CJK font (fonts-noto-cjk, with apt-get) so Korean renders in the test's screenshots.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --browser) BROWSER=1 ;;
    *) echo "usage: scripts/setup.sh [--browser]" >&2; exit 2 ;;
  esac
done

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
  exit 1
fi

if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "wasm32-unknown-unknown target: present"
else
  say "Adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  say "worker-build $WORKER_BUILD_VERSION: present"
else
  say "Installing worker-build $WORKER_BUILD_VERSION (compiles from source, about 4 minutes)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --force
fi

WB_VERSION="$(locked_wasm_bindgen_version)"
if [ -z "$WB_VERSION" ]; then
  echo "could not read the wasm-bindgen version from Cargo.lock" >&2
  exit 1
fi
if wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WB_VERSION"; then
  say "wasm-bindgen-cli $WB_VERSION: present"
else
  # --locked fails here: its lockfile wants a crate version the registry does not serve.
  say "Installing wasm-bindgen-cli $WB_VERSION (compiles from source, about 5 minutes)"
  cargo install wasm-bindgen-cli --version "$WB_VERSION" --force
fi

STAMP="node_modules/.nativor-setup-stamp"
if command -v sha256sum >/dev/null; then
  LOCK_SUM="$(sha256sum package-lock.json | cut -d' ' -f1)"
else
  LOCK_SUM="$(shasum -a 256 package-lock.json | cut -d' ' -f1)"   # macOS
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$LOCK_SUM" ]; then
  say "node_modules: up to date with package-lock.json"
else
  say "Installing JS tooling with npm ci (wrangler, esbuild, binaryen)"
  npm ci --no-audit --no-fund
  echo "$LOCK_SUM" > "$STAMP"
fi

if [ ! -f .dev.vars ]; then
  say "Creating .dev.vars from .dev.vars.example (local secrets, git-ignored)"
  cp .dev.vars.example .dev.vars
fi

if [ "$BROWSER" = 1 ]; then
  # Chromium for the browser end-to-end test (crates/e2e/tests/e2e/browser.rs drives it with
  # playwright-core from npm; Playwright never downloads a browser of its own here), and a
  # CJK font so that Korean text renders in its screenshots instead of empty boxes.
  PACKAGES=()
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    if [ ! -x "$CHROMIUM_PATH" ]; then
      echo "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file: point it at a Chromium or Chrome binary" >&2
      exit 1
    fi
    say "Chromium (browser test): CHROMIUM_PATH=$CHROMIUM_PATH"
  elif [ -x /usr/bin/chromium ]; then
    say "Chromium (browser test): present at /usr/bin/chromium"
  elif command -v apt-get >/dev/null; then
    PACKAGES+=(chromium)
  else
    cat >&2 <<'MSG'
The browser test needs Chromium, and there is none at /usr/bin/chromium and no apt-get to
install it. Either set CHROMIUM_PATH to a Chromium or Chrome executable, e.g. on macOS
  CHROMIUM_PATH="/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" npm test
or install Debian's chromium with apt-get (apt-get install chromium).
MSG
    exit 1
  fi
  if command -v fc-list >/dev/null && fc-list :lang=ko | grep -q .; then
    say "CJK font (browser screenshots): present"
  elif command -v apt-get >/dev/null; then
    PACKAGES+=(fonts-noto-cjk)
  else
    say "No CJK font found: Korean text in the browser screenshots will not render (the test still runs)"
  fi
  if [ "${#PACKAGES[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
      SUDO="sudo"
    fi
    say "Installing for the browser test: $SUDO apt-get install -y ${PACKAGES[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${PACKAGES[@]}"
    if [ -x /usr/bin/chromium ]; then
      say "Chromium: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    fi
  fi
fi
say "Set-up complete"
