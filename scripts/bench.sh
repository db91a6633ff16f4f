#!/usr/bin/env bash
# The benchmark, one command: `npm run bench` (full: 3 interleaved rounds) or
# `npm run bench -- --quick` (small sizes, one round: proves it works).
# Starts the dev backend and three servers directly on workerd (no wrangler relay):
# this hub (release build), the JS baseline and the JS floor (bench/servers/), runs the
# Rust load generator, stops everything it started, prints a table and writes
# bench/results/<date>.json (quick runs write target/bench-quick.json instead).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

QUICK=""
if [ "${1:-}" = "--quick" ]; then
  QUICK="--quick"
  shift
fi
# Any further arguments go to the load generator (e.g. --only handshake --rounds 1).

bash scripts/setup.sh
say "Building the hub (release), the dev backend and the load generator"
bash scripts/build.sh
cargo build --quiet --release -p dev-backend -p bench

# Sockets: the load generator and each server hold thousands of descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORKERD="$ROOT/node_modules/@cloudflare/workerd-linux-64/bin/workerd"
RUN="$ROOT/bench/tmp/run-$$"
mkdir -p "$RUN"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Servers the restart scenarios started again (the load generator's children).
  pkill -f "serve $RUN/" 2>/dev/null || true
  wait 2>/dev/null || true
  # The servers' logs outlive the run (a crash or a refused connection is explained there).
  mkdir -p "$ROOT/target/bench-logs"
  cp "$RUN"/*.log "$ROOT/target/bench-logs/" 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

# A free port below the kernel's ephemeral range: the restart scenarios start a server
# again on its port while thousands of client sockets come and go, and a client's own
# (ephemeral) port could otherwise take it first.
free_port() {
  python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0]) if __import__("os").path.exists("/proc/sys/net/ipv4/ip_local_port_range") else 32768
for _ in range(200):
    port = random.randrange(max(1024, low - 12000), low)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
}
BACKEND_PORT="$(free_port)"
TOKEN="bench-webhook-token"

# The restart scenarios' clients use bench:<user> tokens: each check costs
# BENCH_CHECK_MS, at most BENCH_CHECK_CONCURRENCY at once (400 checks/s by default), a
# backend that saturates the way a real one does when a deploy reconnects everyone.
CHECK_MS="${BENCH_CHECK_MS:-20}"
CHECK_CONCURRENCY="${BENCH_CHECK_CONCURRENCY:-8}"
say "Starting the dev backend on 127.0.0.1:$BACKEND_PORT (dev:<user> tokens answer at once; bench:<user> cost $CHECK_MS ms, $CHECK_CONCURRENCY at once)"
target/release/dev-backend --port "$BACKEND_PORT" --hub "http://127.0.0.1:1" --webhook-token "$TOKEN" \
  --bench-check-ms "$CHECK_MS" --bench-concurrency "$CHECK_CONCURRENCY" >"$RUN/backend.log" 2>&1 &
PIDS+=($!)

# One workerd config per server: same runtime, same storage kind (SQLite on local disk),
# loopback outbound allowed for the participants check. BENCH_STORAGE_DIR moves the
# storage (e.g. to /dev/shm); BENCH_V8_FLAGS passes V8 flags, e.g. '"--perf-basic-prof"'
# so that `perf` names JIT and wasm frames.
STORAGE="${BENCH_STORAGE_DIR:-$RUN}"
# The same compatibility date as the deployed Worker.
COMPAT_DATE="$(sed -n 's/^compatibility_date = "\(.*\)"/\1/p' wrangler.toml)"
# WebSocket compression as deployed: wrangler.toml's `no_web_socket_compression` flag
# turns it off on every server (no permessage-deflate for any socket), as in production.
# BENCH_WS_COMPRESSION=on|off overrides it for all three servers at once (the compression
# comparison in docs/benchmarks.md runs with BENCH_WS_COMPRESSION=on).
DEPLOYED_COMPRESSION=on
if grep -q '^compatibility_flags = .*"no_web_socket_compression"' wrangler.toml; then DEPLOYED_COMPRESSION=off; fi
COMPAT_FLAGS=""
COMPRESSION="${BENCH_WS_COMPRESSION:-$DEPLOYED_COMPRESSION}"
if [ "$COMPRESSION" = "off" ]; then COMPAT_FLAGS='"no_web_socket_compression"'; fi
config() { # name port modules-block [extra bindings]
  mkdir -p "$STORAGE/$1-storage"
  cat >"$RUN/$1.capnp" <<CAPNP
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  v8Flags = [ ${BENCH_V8_FLAGS:-} ],
  services = [
    (name = "main", worker = .server),
    (name = "net", network = (allow = ["public", "private", "local"])),
    (name = "storage", disk = (path = "$STORAGE/$1-storage", writable = true)),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:$2", http = (), service = "main") ],
);
const server :Workerd.Worker = (
  modules = [ $3 ],
  compatibilityDate = "$COMPAT_DATE",
  compatibilityFlags = [ $COMPAT_FLAGS ],
  bindings = [
    (name = "BACKEND_ORIGIN", text = "http://127.0.0.1:$BACKEND_PORT"),
    (name = "WEBHOOK_TOKEN", text = "$TOKEN"),
    (name = "Chat", durableObjectNamespace = "ChatRoom"),
    ${4:-}
  ],
  durableObjectNamespaces = [ (className = "ChatRoom", uniqueKey = "bench-$1", enableSql = true) ],
  durableObjectStorage = (localDisk = "storage"),
  globalOutbound = "net",
);
CAPNP
}

SERVERS=()
start() { # name modules-block [extra bindings]
  local port
  port="$(free_port)"
  config "$1" "$port" "$2" "${3:-}"
  "$WORKERD" serve "$RUN/$1.capnp" >"$RUN/$1.log" 2>&1 &
  local pid=$!
  # The restart scenarios kill servers on purpose: no job-control notice for that.
  disown "$pid"
  PIDS+=("$pid")
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "$1 did not start:"; cat "$RUN/$1.log"; exit 1; }
  SERVERS+=(--server "$1=http://127.0.0.1:$port@$pid")
  say "Started $1 on 127.0.0.1:$port (workerd pid $pid)"
}

# Embedded paths are relative to the config file, which lives in bench/tmp/run-*/.
UP="../../.."
HUB_MODULES="(name = \"index.js\", esModule = embed \"$UP/build/index.js\"), (name = \"index_bg.wasm\", wasm = embed \"$UP/build/index_bg.wasm\")"
# The hub as deployed with resume tickets; and the same build without them
# (hub_noresume), which runs the restart scenarios only.
start hub "$HUB_MODULES" '(name = "RESUME_SECRET", text = "bench-resume-secret"),'
start hub_noresume "$HUB_MODULES"
RESTARTS=(--workerd "$WORKERD" --backend "http://127.0.0.1:$BACKEND_PORT" --restart-only hub_noresume)
for name in hub hub_noresume baseline; do RESTARTS+=(--restart "$name=$RUN/$name.capnp"); done
# BENCH_HUB_BEFORE=<dir with index.js and index_bg.wasm> (an absolute path) adds an earlier
# build of the hub as the server `hub_before`, for before/after ratios of a change in one run.
if [ -n "${BENCH_HUB_BEFORE:-}" ]; then
  # workerd resolves embeds relative to the config file: copy the build next to it.
  mkdir -p "$RUN/hub_before"
  cp "$BENCH_HUB_BEFORE/index.js" "$BENCH_HUB_BEFORE/index_bg.wasm" "$RUN/hub_before/"
  start hub_before "(name = \"index.js\", esModule = embed \"hub_before/index.js\"), (name = \"index_bg.wasm\", wasm = embed \"hub_before/index_bg.wasm\")"
fi
# BENCH_SHARD_SIZE=<n> adds the same hub with ROOM_SHARD_SIZE=n as `hub_sharded`: a room
# past n sockets spreads over several objects, so `--only fanout_4000_inflight` with
# BENCH_SHARD_SIZE=1000 compares 4,000 sockets in 4 objects with 4,000 in one (`hub`)
# in one run (docs/benchmarks.md, "Rooms bigger than one object").
if [ -n "${BENCH_SHARD_SIZE:-}" ]; then
  start hub_sharded "$HUB_MODULES" "(name = \"RESUME_SECRET\", text = \"bench-resume-secret\"), (name = \"ROOM_SHARD_SIZE\", text = \"$BENCH_SHARD_SIZE\"),"
fi
start baseline "(name = \"baseline.js\", esModule = embed \"$UP/bench/servers/baseline.js\")"
start floor "(name = \"floor.js\", esModule = embed \"$UP/bench/servers/floor.js\")"

DATE="$(date -u +%Y-%m-%d)"
if [ -n "$QUICK" ]; then OUT="$ROOT/target/bench-quick.json"; else OUT="$ROOT/bench/results/$DATE.json"; fi
# BENCH_OUT=<file> writes the results there instead (a partial run, say).
OUT="${BENCH_OUT:-$OUT}"
mkdir -p "$(dirname "$OUT")"
RAW="$(stat -c %s build/index_bg.wasm)"
GZ="$(gzip -9 -c build/index_bg.wasm | wc -c)"

say "Running the load generator ${QUICK:-(full: 3 rounds, takes several minutes)}"
BENCH_DATE="$DATE" target/release/loadgen "${SERVERS[@]}" "${RESTARTS[@]}" $QUICK --out "$OUT" --expect-compression "$COMPRESSION" \
  --wasm-raw "$RAW" --wasm-gzip "$GZ" "$@" --runtime "workerd $("$WORKERD" --version | awk '{print $2}') (workerd serve, measured directly)"
