#!/usr/bin/env bash
# Flight search and booking through the gateway, measured with wrk (64 connections, 20 s each),
# against the whole platform in one process (release build) with about 100,000 flights.
# Writes the results table into docs/benchmarks.md. Run: bench/flights.sh
#
# The platform runs on its own databases (prefix itinera_bench_), recreated on each run.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-20s}"
THREADS="${THREADS:-2}"
PORT=4000
export DATABASE_NAME_PREFIX=itinera_bench_
export SEED_DAYS="${SEED_DAYS:-330}"
export SEED_FLIGHTS_PER_DAY="${SEED_FLIGHTS_PER_DAY:-2}"
export LOG_LEVEL="${LOG_LEVEL:-warn}"
# Load from one address and one user: the gateway's rate limits and booking's limits on unpaid
# holds would refuse most of it.
export RATE_LIMIT_ENABLED=false
export BOOKING_MAX_PENDING_PER_USER=1000000 BOOKING_MAX_HELD_SEATS_PER_USER=1000000
export BOOKING_MAX_FLIGHT_SHARE_PERCENT=100
export SEARCH_CACHE_TTL_MS="${SEARCH_CACHE_TTL_MS:-1000}"
# Each cache setting has its own results section in docs/benchmarks.md.
if [ "$SEARCH_CACHE_TTL_MS" = 0 ]; then SECTION=flights-nocache; else SECTION=flights; fi
export ITINERA_ADMIN_USERNAME=benchadmin ITINERA_ADMIN_PASSWORD=benchadmin-password-1

./scripts/setup.sh
# shellcheck source=/dev/null
. .itinera/env
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
cargo build --release --locked -p itinera

server="${DATABASE_URL%/}"
for service in identity catalog booking notification payment; do
    psql "$server/postgres" -qc "DROP DATABASE IF EXISTS itinera_bench_$service WITH (FORCE)" >/dev/null
done

log=$(mktemp)
"$CARGO_TARGET_DIR/release/itinera" up --no-demo-users >"$log" 2>&1 &
platform=$!
trap 'kill $platform 2>/dev/null || true; wait $platform 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/api/gateway/status" >/dev/null && break
    sleep 1
done
flights=$(psql "$server/itinera_bench_catalog" -Atc "SELECT count(*) FROM flights")
echo "catalog has $flights flights; waiting for booking to receive them..."
started=$(date +%s)
until [ "$(psql "$server/itinera_bench_booking" -Atc "SELECT count(*) FROM flights")" -ge "$flights" ]; do
    sleep 2
    if [ $(( $(date +%s) - started )) -gt 900 ]; then echo "booking did not catch up" >&2; exit 1; fi
done
propagation=$(( $(date +%s) - started ))
echo "booking has all $flights flights (${propagation}s after the seed)"

api="http://127.0.0.1:$PORT"
curl -sf -X POST "$api/api/auth/register" -H 'content-type: application/json' \
    -d '{"username":"bencher","password":"bench-password-1","email":"bencher@example.com"}' >/dev/null
TOKEN=$(curl -sf -X POST "$api/api/auth/login" -H 'content-type: application/json' \
    -d '{"username":"bencher","password":"bench-password-1"}' | jq -r .token)
export TOKEN

# Search: routes between hub cities, on dates across the schedule.
export ROUTES="Paris:London,London:Paris,Frankfurt:New York,New York:London,Dubai:Singapore,Amsterdam:Paris,Los Angeles:New York,Singapore:London,Paris:Dubai,London:Frankfurt"
DATES=$(for d in 2 5 9 14 20 27 33 41; do date -u -d "+$d days" +%F; done | paste -sd,)
export DATES
search_out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/lua/search.lua "$api")
echo "$search_out"

# Booking: economy seats on 3,000 flights departing from next week on (a 20 s run at the target
# rate sells about 30,000 seats, well under what those flights hold).
FLIGHTS=$(psql "$server/itinera_bench_booking" -Atc \
    "SELECT flight_id FROM flights WHERE departure_at > now() + interval '7 days' ORDER BY flight_id LIMIT 3000" | paste -sd,)
export FLIGHTS
book_out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/lua/book.lua "$api")
echo "$book_out"
sold=$(psql "$server/itinera_bench_booking" -Atc "SELECT count(*) FROM bookings")

rps() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
pct() { echo "$1" | awk -v p="$2" '$1 == p {print $2}'; }
errors() { echo "$1" | awk '/Non-2xx/ {n = $5} END {print n + 0}'; }

cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
table=$(cat <<TABLE
<!-- $SECTION:begin -->
Measured $(date -u +%F) with \`bench/flights.sh\` on $(nproc) cores ($cpu), $(free -g | awk '/Mem/ {print $2}') GiB,
PostgreSQL $(psql "$server/postgres" -Atc 'SHOW server_version' | cut -d' ' -f1), release build, \`itinera up\`
(every service in one process), wrk on the same machine ($THREADS threads, $CONNECTIONS connections,
$DURATION per scenario). $flights flights in the catalog; rate limits off (\`RATE_LIMIT_ENABLED=false\`).
Search cache time-to-live: ${SEARCH_CACHE_TTL_MS} ms (\`SEARCH_CACHE_TTL_MS\`); the search mix has
$(echo "$ROUTES" | tr ',' '\n' | wc -l) routes × $(echo "$DATES" | tr ',' '\n' | wc -l) dates.

| scenario | requests/s | p50 | p99 | non-2xx | target |
|---|---|---|---|---|---|
| search \`GET /api/flights\` through the gateway | $(rps "$search_out") | $(pct "$search_out" 50%) | $(pct "$search_out" 99%) | $(errors "$search_out") | ≥ 8,000 req/s, p99 < 25 ms |
| booking \`POST /api/bookings\` through the gateway | $(rps "$book_out") | $(pct "$book_out" 50%) | $(pct "$book_out" 99%) | $(errors "$book_out") | ≥ 1,500 bookings/s |

Bookings stored after the run: $sold. Seed to bookable: booking received all $flights
flight events ${propagation}s after the seed.
<!-- $SECTION:end -->
TABLE
)
doc=docs/benchmarks.md
[ -f "$doc" ] || printf '# Benchmarks\n' >"$doc"
python3 - "$doc" "$table" "$SECTION" <<'PY'
import re, sys
path, table, section = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
pattern = re.compile(rf"<!-- {section}:begin -->.*?<!-- {section}:end -->", re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: table, text)
else:
    text = text.rstrip("\n") + "\n\n" + table + "\n"
open(path, "w").write(text)
PY
echo "results written to $doc"
