#!/usr/bin/env bash
# Deploys a release build: `npm run deploy` (production), `npm run deploy:staging`.
#   bash scripts/deploy.sh <staging|production> [extra wrangler args]
# Always deploys with --env: the top level of wrangler.toml is the local configuration
# (loopback backend) under a name no deployed Worker has, and is never deployed.
# Named previews are scripts/preview.sh (`npm run preview -- <name>`).
# Needs Cloudflare credentials (`npx wrangler login`, or CLOUDFLARE_API_TOKEN) and the
# environment's WEBHOOK_TOKEN secret (`npx wrangler secret put WEBHOOK_TOKEN --env <env>`).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ENVIRONMENT="${1:-}"
case "$ENVIRONMENT" in
  staging|production) shift ;;
  *) echo "usage: scripts/deploy.sh <staging|production> [wrangler args]" >&2; exit 2 ;;
esac
# The environment (and so the Worker) is chosen above, never by extra arguments.
for arg in "$@"; do
  case "$arg" in
    -e|--env|--env=*|--name|--name=*)
      echo "scripts/deploy.sh: '$arg' is not allowed; the environment is the first argument (staging|production)" >&2
      exit 2
      ;;
  esac
done

bash scripts/setup.sh
say "Building a release bundle"
bash scripts/build.sh
export NATIVOR_PREBUILT=1   # wrangler's [build] step reuses the bundle just built

say "Deploying to $ENVIRONMENT (every open WebSocket of the old version is closed; clients reconnect)"
wrangler deploy --env "$ENVIRONMENT" "$@"
