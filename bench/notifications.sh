#!/usr/bin/env bash
# Booking to notification: books at a steady rate through the gateway, then measures, from the
# databases' own timestamps, how long after each booking's transaction its confirmation
# notification was stored. Runs the platform in process, then over Kafka (the local tansu broker).
# Writes the results into docs/benchmarks.md. Run: bench/notifications.sh
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT="${COUNT:-1000}"
RATE="${RATE:-50}"
PORT=4000
export DATABASE_NAME_PREFIX=itinera_nbench_ SEED_DAYS=3 LOG_LEVEL=warn RATE_LIMIT_ENABLED=false
# One user books them all: booking's limits on unpaid holds would refuse some at a high rate.
export BOOKING_MAX_PENDING_PER_USER=1000000 BOOKING_MAX_HELD_SEATS_PER_USER=1000000 BOOKING_MAX_FLIGHT_SHARE_PERCENT=100
export ITINERA_ADMIN_USERNAME=benchadmin ITINERA_ADMIN_PASSWORD=benchadmin-password-1

./scripts/setup.sh
./scripts/kafka.sh start
# shellcheck source=/dev/null
. .itinera/env
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
cargo build --release --locked -p itinera
server="${DATABASE_URL%/}"
api="http://127.0.0.1:$PORT"

run() {
    local mode=$1
    for service in identity catalog booking notification payment; do
        psql "$server/postgres" -qc "DROP DATABASE IF EXISTS itinera_nbench_$service WITH (FORCE)" >/dev/null 2>&1
    done
    if [ "$mode" = kafka ]; then
        export KAFKA_BROKERS="127.0.0.1:${KAFKA_PORT:-9092}" KAFKA_TOPIC_PREFIX="nbench.$(date +%s)." KAFKA_SESSION_TIMEOUT_MS=6000
    else
        unset KAFKA_BROKERS KAFKA_TOPIC_PREFIX
    fi
    "$CARGO_TARGET_DIR/release/itinera" up --no-demo-users >/tmp/itinera-nbench.log 2>&1 &
    local platform=$!
    for _ in $(seq 1 60); do curl -sf "$api/api/gateway/status" >/dev/null && break; sleep 1; done
    until [ "$(psql "$server/itinera_nbench_booking" -Atc "SELECT count(*) FROM inventory" 2>/dev/null || echo 0)" -gt 100 ]; do sleep 1; done
    curl -sf -X POST "$api/api/auth/register" -H 'content-type: application/json' \
        -d '{"username":"nbencher","password":"bench-password-1","email":"nbencher@example.com"}' >/dev/null
    local token
    token=$(curl -sf -X POST "$api/api/auth/login" -H 'content-type: application/json' \
        -d '{"username":"nbencher","password":"bench-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    local flights
    flights=$(psql "$server/itinera_nbench_booking" -Atc \
        "SELECT flight_id FROM flights WHERE departure_at > now() + interval '6 hours' ORDER BY flight_id LIMIT 300" | paste -sd,)
    cat >/tmp/nbench-book.py <<'PY'
import http.client, json, sys, time
api, token, flights, count, rate = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), float(sys.argv[5])
host = api.split("//")[1]
connection = http.client.HTTPConnection(host)
start = time.time()
for i in range(count):
    body = json.dumps({"flightId": int(flights[i % len(flights)]), "passengers": [{"name": "Bench"}]})
    connection.request("POST", "/api/bookings", body, {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    response = connection.getresponse(); response.read()
    if response.status != 201:
        raise SystemExit(f"booking {i} answered {response.status}")
    delay = start + (i + 1) / rate - time.time()
    if delay > 0:
        time.sleep(delay)
PY
    # Warm-up: consumer groups join and connections open before anything is measured.
    python3 /tmp/nbench-book.py "$api" "$token" "$flights" 20 "$RATE"
    for _ in $(seq 1 60); do
        [ "$(psql "$server/itinera_nbench_notification" -Atc \
            "SELECT count(*) FROM notifications WHERE kind = 'booking-confirmed' AND channel = 'in_app'")" -ge 20 ] && break
        sleep 1
    done
    # Consumer groups settle (the first metadata refresh can rebalance them) before measuring.
    sleep "${SETTLE_SECS:-15}"
    local since
    since=$(psql "$server/itinera_nbench_booking" -Atc "SELECT extract(epoch FROM now())")
    python3 /tmp/nbench-book.py "$api" "$token" "$flights" "$COUNT" "$RATE"
    for _ in $(seq 1 120); do
        stored=$(psql "$server/itinera_nbench_notification" -Atc \
            "SELECT count(*) FROM notifications WHERE kind = 'booking-confirmed' AND channel = 'in_app'")
        [ "$stored" -ge $((COUNT + 20)) ] && break
        sleep 1
    done
    psql "$server/itinera_nbench_booking" -Atc "COPY (SELECT reference, extract(epoch FROM created_at) FROM bookings WHERE extract(epoch FROM created_at) > $since) TO STDOUT WITH CSV" >/tmp/nbench-bookings.csv
    psql "$server/itinera_nbench_notification" -Atc "COPY (SELECT substring(subject FROM 'booking ([A-Z0-9]+) is'), extract(epoch FROM created_at) FROM notifications WHERE kind = 'booking-confirmed' AND channel = 'in_app') TO STDOUT WITH CSV" >/tmp/nbench-notifications.csv
    kill $platform; wait $platform 2>/dev/null || true
    python3 - "$mode" "$COUNT" "$RATE" <<'PY'
import csv, sys
mode, count, rate = sys.argv[1], sys.argv[2], sys.argv[3]
booked = {r[0]: float(r[1]) for r in csv.reader(open("/tmp/nbench-bookings.csv"))}
latencies = sorted((float(r[1]) - booked[r[0]]) * 1000 for r in csv.reader(open("/tmp/nbench-notifications.csv")) if r[0] in booked)
pick = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))]
print(f"| {mode} | {count} at {rate}/s | {len(latencies)} | {pick(0.5):.1f} ms | {pick(0.99):.1f} ms | {latencies[-1]:.1f} ms |")
PY
}

memory=$(run memory | tail -1)
kafka=$(run kafka | tail -1)
echo "$memory"; echo "$kafka"
cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
table=$(cat <<TABLE
<!-- notifications:begin -->
Measured $(date -u +%F) with \`bench/notifications.sh\` on $(nproc) cores ($cpu): the whole platform
in one process (release build), one-passenger bookings through the gateway at a steady rate;
latency from each booking's transaction to its \`booking-confirmed\` notification stored (the
databases' own clocks: same server), after 20 warm-up bookings and 15 s for consumer groups to
settle.

| transport | bookings | notifications stored | p50 | p99 | max |
|---|---|---|---|---|---|
$memory
$kafka
<!-- notifications:end -->
TABLE
)
python3 - docs/benchmarks.md "$table" <<'PY'
import re, sys
path, table = sys.argv[1], sys.argv[2]
text = open(path).read()
pattern = re.compile(r"<!-- notifications:begin -->.*?<!-- notifications:end -->", re.S)
text = pattern.sub(lambda _: table, text) if pattern.search(text) else text.rstrip("\n") + "\n\n## Booking to notification\n\n" + table + "\n"
open(path, "w").write(text)
PY
echo "results written to docs/benchmarks.md"
