#!/usr/bin/env bash
# Confirmed bookings per second, end to end: POST /api/bookings through the gateway → seats held →
# booking.created → payment charges the simulated processor → payment.succeeded → CONFIRMED, with
# the time from booking to confirmation. Run: bench/saga.sh [memory|kafka]
#
# memory: every service in one process over the in-process bus (`itinera up`);
# kafka:  the same process with KAFKA_BROKERS set, events over the local tansu broker.
# Writes the results into docs/benchmarks.md (section saga-<mode>).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-memory}"
case "$MODE" in memory | kafka) ;; *) echo "usage: bench/saga.sh [memory|kafka]" >&2; exit 2 ;; esac
CONNECTIONS="${CONNECTIONS:-128}"
DURATION="${DURATION:-20}"
THREADS="${THREADS:-2}"
PORT=4000
export DATABASE_NAME_PREFIX=itinera_bench_saga_
export SEED_DAYS="${SEED_DAYS:-60}"
export SEED_FLIGHTS_PER_DAY="${SEED_FLIGHTS_PER_DAY:-1}"
export LOG_LEVEL="${LOG_LEVEL:-warn}"
# Load from one address and one user: the gateway's rate limits and booking's limits on unpaid
# holds would refuse most of it.
export RATE_LIMIT_ENABLED=false
export BOOKING_MAX_PENDING_PER_USER=1000000 BOOKING_MAX_HELD_SEATS_PER_USER=1000000
export BOOKING_MAX_FLIGHT_SHARE_PERCENT=100
export ITINERA_ADMIN_USERNAME=benchadmin ITINERA_ADMIN_PASSWORD=benchadmin-password-1

./scripts/setup.sh
# shellcheck source=/dev/null
. .itinera/env
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
cargo build --release --locked -p itinera
if [ "$MODE" = kafka ]; then
    ./scripts/kafka.sh start
    export KAFKA_BROKERS="127.0.0.1:${KAFKA_PORT:-9092}"
    export KAFKA_TOPIC_PREFIX="bench$(date +%s)."
fi

server="${DATABASE_URL%/}"
for service in identity catalog booking notification payment; do
    psql "$server/postgres" -qc "DROP DATABASE IF EXISTS ${DATABASE_NAME_PREFIX}$service WITH (FORCE)" >/dev/null
done
booking_db="$server/${DATABASE_NAME_PREFIX}booking"
payment_db="$server/${DATABASE_NAME_PREFIX}payment"

log=$(mktemp)
"$CARGO_TARGET_DIR/release/itinera" up --no-demo-users >"$log" 2>&1 &
platform=$!
trap 'kill $platform 2>/dev/null || true; wait $platform 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/api/gateway/status" >/dev/null && break
    sleep 1
done
flights=$(psql "$server/${DATABASE_NAME_PREFIX}catalog" -Atc "SELECT count(*) FROM flights")
until [ "$(psql "$booking_db" -Atc "SELECT count(*) FROM flights")" -ge "$flights" ]; do sleep 2; done
echo "booking has all $flights flights"

api="http://127.0.0.1:$PORT"
curl -sf -X POST "$api/api/auth/register" -H 'content-type: application/json' \
    -d '{"username":"bencher","password":"bench-password-1","email":"bencher@example.com"}' >/dev/null
TOKEN=$(curl -sf -X POST "$api/api/auth/login" -H 'content-type: application/json' \
    -d '{"username":"bencher","password":"bench-password-1"}' | jq -r .token)
export TOKEN
FLIGHTS=$(psql "$booking_db" -Atc \
    "SELECT flight_id FROM flights WHERE departure_at > now() + interval '7 days' ORDER BY flight_id LIMIT 3000" | paste -sd,)
export FLIGHTS

# A short warm-up (connections, consumer groups), then the measured run.
wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s bench/lua/book.lua "$api" >/dev/null
psql "$booking_db" -qc "SELECT 1" >/dev/null
before=$(psql "$booking_db" -Atc "SELECT COALESCE(max(id), 0) FROM bookings")
out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/lua/book.lua "$api")
echo "$out"
# Let the last answers arrive (a request waits at most BOOKING_CONFIRM_WAIT_MS).
sleep 5

read -r confirmed pending cancelled expired p50 p99 max <<<"$(psql "$booking_db" -AtF' ' -c "
    SELECT count(*) FILTER (WHERE status = 'CONFIRMED'),
           count(*) FILTER (WHERE status = 'PENDING_PAYMENT'),
           count(*) FILTER (WHERE status = 'CANCELLED'),
           count(*) FILTER (WHERE status = 'EXPIRED'),
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM paid_at - created_at)) * 1000)::numeric, 1),
           round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM paid_at - created_at)) * 1000)::numeric, 1),
           round((max(extract(epoch FROM paid_at - created_at)) * 1000)::numeric, 1)
    FROM bookings WHERE id > $before")"
charges=$(psql "$payment_db" -Atc "SELECT count(*) FROM simulated_charges")
payments=$(psql "$payment_db" -Atc "SELECT count(*) FROM payments WHERE status = 'SUCCEEDED'")
per_second=$(awk -v c="$confirmed" -v d="$DURATION" 'BEGIN {printf "%.0f", c / d}')
rps() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
pct() { echo "$1" | awk -v p="$2" '$1 == p {print $2}'; }
errors() { echo "$1" | awk '/Non-2xx/ {n = $5} END {print n + 0}'; }
echo "confirmed $confirmed ($per_second/s), pending $pending, cancelled $cancelled, expired $expired; p50 ${p50} ms, p99 ${p99} ms; charges $charges for $payments payments"

if [ "$MODE" = kafka ]; then target="≥ 500/s"; transport="Kafka (local tansu broker, in memory)"; else target="≥ 1,000/s"; transport="the in-process bus"; fi
cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
table=$(cat <<TABLE
<!-- saga-$MODE:begin -->
Measured $(date -u +%F) with \`bench/saga.sh $MODE\` on $(nproc) cores ($cpu), PostgreSQL
$(psql "$server/postgres" -Atc 'SHOW server_version' | cut -d' ' -f1), release build, \`itinera up\` over $transport, wrk on the same
machine ($THREADS threads, $CONNECTIONS connections, ${DURATION} s after a 5 s warm-up), one-passenger economy bookings
on 3,000 flights, paid by the simulated processor's sandbox card. Rate limits off (\`RATE_LIMIT_ENABLED=false\`). Each request waits
for its booking to settle (\`BOOKING_CONFIRM_WAIT_MS\`, 3 s), so wrk's latency is the time to confirmation
seen by the client; the database's is \`paid_at - created_at\`.

| confirmed/s | requests/s | client p50 | client p99 | DB p50 | DB p99 | DB max | non-2xx | left pending | cancelled | target |
|---|---|---|---|---|---|---|---|---|---|---|
| $per_second | $(rps "$out") | $(pct "$out" 50%) | $(pct "$out" 99%) | ${p50} ms | ${p99} ms | ${max} ms | $(errors "$out") | $pending | $cancelled | $target |

Processor charges: $charges for $payments successful payments (one per booking, including the warm-up).
<!-- saga-$MODE:end -->
TABLE
)
python3 - docs/benchmarks.md "$table" "saga-$MODE" <<'PY'
import re, sys
path, table, section = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
pattern = re.compile(rf"<!-- {section}:begin -->.*?<!-- {section}:end -->", re.S)
text = pattern.sub(lambda _: table, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + table + "\n"
open(path, "w").write(text)
PY
echo "results written to docs/benchmarks.md"
