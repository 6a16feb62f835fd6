#!/usr/bin/env bash
# Live updates under load: CONNECTIONS Socket.IO connections (default 5,000) subscribe to one
# flight; ops changes the flight ROUNDS times; each round reports how long after the change every
# connection had the update (p50, p99, max), and the platform's memory per connection.
# Runs twice on a fresh platform each time: through the gateway, then straight at notification.
# Run: bench/live.sh   (the client is crates/itinera/examples/live_load.rs)
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS="${CONNECTIONS:-5000}"
ROUNDS="${ROUNDS:-5}"
USERS="${USERS:-20}"
PORT=4000
export DATABASE_NAME_PREFIX=itinera_lbench_ SEED_DAYS=1 LOG_LEVEL=warn RATE_LIMIT_ENABLED=false
export ITINERA_ADMIN_USERNAME=benchadmin ITINERA_ADMIN_PASSWORD=benchadmin-password-1
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

./scripts/setup.sh
# shellcheck source=/dev/null
. .itinera/env
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
cargo build --release --locked -p itinera --bin itinera --example live_load
server="${DATABASE_URL%/}"
api="http://127.0.0.1:$PORT"
# Each connection is a socket here, and up to three in the platform (gateway in and out, notification).
ulimit -n "$(ulimit -Hn)"

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

run() {
    local target=$1
    for service in identity catalog booking notification payment; do
        psql "$server/postgres" -qc "DROP DATABASE IF EXISTS itinera_lbench_$service WITH (FORCE)" >/dev/null 2>&1
    done
    export LIVE_REDIS_PREFIX="lbench:$(date +%s%N):"
    "$CARGO_TARGET_DIR/release/itinera" up --no-demo-users >/tmp/itinera-lbench.log 2>&1 &
    local platform=$!
    trap 'kill $platform 2>/dev/null || true' EXIT
    for _ in $(seq 1 60); do curl -sf "$api/api/gateway/status" >/dev/null && break; sleep 1; done
    local admin tokens="" flight
    admin=$(curl -sf -X POST "$api/api/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$ITINERA_ADMIN_USERNAME\",\"password\":\"$ITINERA_ADMIN_PASSWORD\"}" | json '["token"]')
    for i in $(seq 1 "$USERS"); do
        curl -sf -X POST "$api/api/auth/register" -H 'content-type: application/json' \
            -d "{\"username\":\"lbench$i\",\"password\":\"bench-password-1\",\"email\":\"lbench$i@example.com\"}" >/dev/null
        tokens="$tokens,$(curl -sf -X POST "$api/api/auth/login" -H 'content-type: application/json' \
            -d "{\"username\":\"lbench$i\",\"password\":\"bench-password-1\"}" | json '["token"]')"
    done
    flight=$(psql "$server/itinera_lbench_catalog" -Atc \
        "SELECT id || ' ' || flight_code FROM flights WHERE departure_at > now() + interval '2 hours' ORDER BY id LIMIT 1")
    local socket="ws://127.0.0.1:$PORT"
    [ "$target" = notification ] && socket="ws://127.0.0.1:5003"
    echo "== $CONNECTIONS connections through the $target, flight ${flight#* }"
    "$CARGO_TARGET_DIR/release/examples/live_load" --api "$api" --socket "$socket" \
        --tokens "${tokens#,}" --ops-token "$admin" --flight-id "${flight%% *}" \
        --flight-code "${flight#* }" --connections "$CONNECTIONS" --rounds "$ROUNDS" \
        --server-pid "$platform"
    kill "$platform"
    for _ in $(seq 1 30); do kill -0 "$platform" 2>/dev/null || break; sleep 1; done
    kill -9 "$platform" 2>/dev/null || true
    wait "$platform" 2>/dev/null || true
    trap - EXIT
}

run gateway
run notification
