#!/usr/bin/env bash
# Deploys a release build: `npm run deploy` (production), `npm run deploy:staging`,
# `npm run preview:staging` (a staging preview version: uploaded, not promoted).
#   bash scripts/deploy.sh <staging|production> [--preview] [extra wrangler args]
# Needs Cloudflare credentials (`npx wrangler login`, or CLOUDFLARE_API_TOKEN) and the
# environment's WEBHOOK_TOKEN secret (`npx wrangler secret put WEBHOOK_TOKEN --env <env>`).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ENVIRONMENT="${1:-}"
case "$ENVIRONMENT" in
  staging|production) shift ;;
  *) echo "usage: scripts/deploy.sh <staging|production> [--preview] [wrangler args]" >&2; exit 2 ;;
esac
PREVIEW=0
if [ "${1:-}" = "--preview" ]; then
  PREVIEW=1
  shift
fi

bash scripts/setup.sh
say "Building a release bundle"
bash scripts/build.sh
export NATIVOR_PREBUILT=1   # wrangler's [build] step reuses the bundle just built

if [ "$PREVIEW" = 1 ]; then
  say "Uploading a preview version to $ENVIRONMENT (not promoted; traffic is unchanged)"
  wrangler versions upload --env "$ENVIRONMENT" "$@"
else
  say "Deploying to $ENVIRONMENT (every open WebSocket of the old version is closed; clients reconnect)"
  wrangler deploy --env "$ENVIRONMENT" "$@"
fi
