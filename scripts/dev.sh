#!/usr/bin/env bash
# Runs the hub locally, one command (`npm run dev`): set-up, the development backend
# (a stand-in for the Nativor backend) and `wrangler dev` (real workerd), wired together.
# HUB_PORT (default 8787) and BACKEND_PORT (default 8788) move them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

HUB_PORT="${HUB_PORT:-8787}"
BACKEND_PORT="${BACKEND_PORT:-8788}"

bash scripts/setup.sh

say "Building the development backend"
cargo build -p dev-backend --quiet

TOKEN="$(sed -n 's/^WEBHOOK_TOKEN=//p' .dev.vars | head -n1)"
say "Starting the development backend on 127.0.0.1:$BACKEND_PORT"
target/debug/dev-backend --port "$BACKEND_PORT" --hub "http://127.0.0.1:$HUB_PORT" --webhook-token "$TOKEN" &
BACKEND_PID=$!
trap 'kill $BACKEND_PID 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  Hub:      http://127.0.0.1:$HUB_PORT   (WebSocket: ws://127.0.0.1:$HUB_PORT/rooms/<roomId>)
  Backend:  http://127.0.0.1:$BACKEND_PORT (development tokens: dev:<userId>; see README)

  Try, once wrangler says "Ready":
    Open http://127.0.0.1:$HUB_PORT/ in two browser tabs (the demo: pick two users, one room).
    curl http://127.0.0.1:$HUB_PORT/healthz
    # In a browser console on http://127.0.0.1:$HUB_PORT/ :
    #   ws = new WebSocket("ws://127.0.0.1:$HUB_PORT/rooms/room-1")
    #   ws.onmessage = e => console.log(e.data)
    #   ws.send(JSON.stringify({type:"auth", token:"dev:alice", roomId:"room-1"}))
    # Post a message as bob through the backend (it broadcasts to the room):
    curl -X POST http://127.0.0.1:$BACKEND_PORT/api/v1/message-rooms/room-1/messages \\
         -H 'Authorization: Bearer dev:bob' -H 'Content-Type: application/json' -d '{"text":"hello"}'
    # Or broadcast directly as the backend would:
    curl -X POST http://127.0.0.1:$HUB_PORT/api/broadcast -H "Authorization: Bearer $TOKEN" \\
         -H 'Content-Type: application/json' -d '{"roomId":"room-1","message":{"type":"message.created","id":"m1"}}'

MSG

say "Starting wrangler dev on 127.0.0.1:$HUB_PORT (builds the Worker first)"
wrangler dev --ip 127.0.0.1 --port "$HUB_PORT" --var "BACKEND_ORIGIN:http://127.0.0.1:$BACKEND_PORT"
