#!/usr/bin/env bash
# Smoke-tests a running hub, local or deployed:
#   npm run smoke -- <base-url> <participant-token> <webhook-token> [room-id]
#   e.g. npm run smoke -- https://ws-staging.nativor.com "$TOKEN" "$WEBHOOK_TOKEN"
#        npm run smoke -- http://127.0.0.1:8787 dev:alice dev-webhook-token   (with npm run dev)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
cargo build --quiet --release -p e2e --bin smoke
exec target/release/smoke "$@"
