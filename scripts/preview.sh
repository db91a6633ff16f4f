#!/usr/bin/env bash
# Named preview deployments: each one is its own Worker, nativor-chat-worker-preview-<name>,
# built from [env.preview] of wrangler.toml: its own Durable Object namespace and storage,
# its workers.dev URL, the staging backend (https://api-staging.nativor.com) and its own
# WEBHOOK_TOKEN secret. (Cloudflare makes no version preview URLs for a Worker that
# implements a Durable Object, so a preview is a separate Worker.)
#
#   npm run preview -- <name> [wrangler args]          deploy or update the preview
#   npm run preview:delete -- <name> [wrangler args]   delete it, storage included
#   bash scripts/preview.sh <deploy|delete> <name> [--dry-run] [wrangler args]
#
# <name>: 1 to 30 lowercase letters, digits and hyphens, starting and ending with a letter
# or a digit (the Worker name stays within the 63 characters of a DNS label).
# WEBHOOK_TOKEN: PREVIEW_WEBHOOK_TOKEN if set, otherwise a new random token on every deploy,
# printed at the end; either way it is uploaded with the deploy itself (--secrets-file), so
# the Worker never runs without it.
# --dry-run: checks and bundles offline (no set-up, no credentials, nothing uploaded).
# Needs Cloudflare credentials (`npx wrangler login`, or CLOUDFLARE_API_TOKEN) otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PREFIX="nativor-chat-worker-preview-"
MAX_NAME=30
usage() {
  echo "usage: npm run preview -- <name>   |   npm run preview:delete -- <name>" >&2
  echo "       (bash scripts/preview.sh <deploy|delete> <name> [--dry-run] [wrangler args])" >&2
  echo "<name>: 1 to $MAX_NAME lowercase letters, digits and hyphens, starting and ending with a letter or a digit" >&2
}

ACTION="${1:-}"
case "$ACTION" in
  deploy|delete) shift ;;
  *) usage; exit 2 ;;
esac
NAME="${1:-}"
if [ -z "$NAME" ]; then
  echo "preview: missing the preview name" >&2
  usage
  exit 2
fi
shift
# Spelled-out character lists: ranges such as [a-z] depend on the locale.
case "$NAME" in
  *[!abcdefghijklmnopqrstuvwxyz0123456789-]* | -* | *-) VALID=0 ;;
  *) VALID=1 ;;
esac
if [ "$VALID" = 0 ] || [ "${#NAME}" -gt "$MAX_NAME" ]; then
  echo "preview: invalid preview name '$NAME'" >&2
  usage
  exit 2
fi
WORKER="$PREFIX$NAME"

DRY_RUN=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -e|--env|--env=*|--name|--name=*)
      echo "preview: '$arg' is not allowed; the Worker is always $WORKER (--env preview)" >&2
      exit 2
      ;;
  esac
done

if [ "$ACTION" = delete ]; then
  say "Deleting the preview Worker $WORKER (its Durable Objects and their storage go with it)"
  echo "+ wrangler delete --env preview --name $WORKER $*"
  wrangler delete --env preview --name "$WORKER" "$@"
  exit 0
fi

if [ "$DRY_RUN" = 0 ]; then
  bash scripts/setup.sh
  say "Building a release bundle"
  bash scripts/build.sh
  export NATIVOR_PREBUILT=1   # wrangler's [build] step reuses the bundle just built
fi

if [ -n "${PREVIEW_WEBHOOK_TOKEN:-}" ]; then
  TOKEN="$PREVIEW_WEBHOOK_TOKEN"
  SHOWN='$PREVIEW_WEBHOOK_TOKEN'
else
  TOKEN="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  SHOWN="$TOKEN"
fi
SECRETS="$(mktemp)"   # mode 600; deleted on exit
trap 'rm -f "$SECRETS"' EXIT
printf 'WEBHOOK_TOKEN=%s\n' "$TOKEN" >"$SECRETS"

if [ "$DRY_RUN" = 1 ]; then
  say "Dry run of the preview $WORKER (nothing is uploaded)"
else
  say "Deploying the preview $WORKER (staging backend, own Durable Objects, own WEBHOOK_TOKEN)"
fi
echo "+ wrangler deploy --env preview --name $WORKER --secrets-file <WEBHOOK_TOKEN> $*"
wrangler deploy --env preview --name "$WORKER" --secrets-file "$SECRETS" "$@"

if [ "$DRY_RUN" = 0 ]; then
  cat <<MSG

  Preview:       $WORKER
  URL:           https://$WORKER.<your workers.dev subdomain>.workers.dev (printed by wrangler above)
  WEBHOOK_TOKEN: $SHOWN
  Smoke test:    npm run smoke -- <URL> "<staging participant token>" "$SHOWN"
  Delete:        npm run preview:delete -- $NAME

MSG
fi
