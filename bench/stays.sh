#!/usr/bin/env bash
# Hotel search, car search and hotel booking through the gateway, beside flight search in the same
# run as the reference, measured with wrk (64 connections, 20 s each) against the whole platform in
# one process (release build) with the demo data: 168 hotels, 660 cars and 30 days of flights.
# Writes the results table into docs/benchmarks.md. Run: bench/stays.sh
#
# The platform runs on its own databases (prefix itinera_bench_), recreated on each run.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-20s}"
THREADS="${THREADS:-2}"
USERS="${USERS:-64}"
PORT=4000
SECTION=stays
export DATABASE_NAME_PREFIX=itinera_bench_
export SEED_DAYS="${SEED_DAYS:-30}"
export LOG_LEVEL="${LOG_LEVEL:-warn}"
# Load from one address: the gateway's rate limits would refuse most of it. The bench users may
# hold many bookings at once.
export RATE_LIMIT_ENABLED=false
export BOOKING_MAX_PENDING_PER_USER=1000000 BOOKING_MAX_HELD_SEATS_PER_USER=1000000
export BOOKING_MAX_FLIGHT_SHARE_PERCENT=100 BOOKING_MAX_HELD_NIGHTS_PER_USER=1000000
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
catalog_db="$server/itinera_bench_catalog"
booking_db="$server/itinera_bench_booking"
flights=$(psql "$catalog_db" -Atc "SELECT count(*) FROM flights")
listings=$(psql "$catalog_db" -Atc "SELECT (SELECT count(*) FROM hotels) + (SELECT count(*) FROM cars)")
echo "catalog has $flights flights and $listings hotels and cars; waiting for booking..."
started=$(date +%s)
until [ "$(psql "$booking_db" -Atc "SELECT count(*) FROM flights")" -ge "$flights" ] &&
    [ "$(psql "$booking_db" -Atc "SELECT count(*) FROM listings")" -ge "$listings" ]; do
    sleep 2
    if [ $(( $(date +%s) - started )) -gt 900 ]; then echo "booking did not catch up" >&2; exit 1; fi
done

api="http://127.0.0.1:$PORT"
TOKENS=""
for n in $(seq 1 "$USERS"); do
    curl -sf -X POST "$api/api/auth/register" -H 'content-type: application/json' \
        -d "{\"username\":\"stayer$n\",\"password\":\"bench-password-1\",\"email\":\"stayer$n@example.com\"}" >/dev/null
    TOKENS="$TOKENS,$(curl -sf -X POST "$api/api/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"stayer$n\",\"password\":\"bench-password-1\"}" | jq -r .token)"
done
export TOKENS="${TOKENS#,}"

run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "bench/lua/$1" "$api"; }

# The reference: flight search over hub routes and dates of the schedule, as bench/flights.sh does.
export ROUTES="Paris:London,London:Paris,Frankfurt:New York,New York:London,Dubai:Singapore,Amsterdam:Paris,Los Angeles:New York,Singapore:London,Paris:Dubai,London:Frankfurt"
DATES=$(for d in 2 5 9 14 20 27; do date -u -d "+$d days" +%F; done | paste -sd,)
export DATES
flight_out=$(run search.lua)
echo "$flight_out"

# Hotels: every demo city, stays of one to three nights over the same weeks.
CITIES=$(psql "$catalog_db" -Atc "SELECT DISTINCT city FROM hotels ORDER BY city" | paste -sd,)
export CITIES
DATES=$(for d in 2 5 9 14 20 27; do for n in 1 2 3; do
    echo "$(date -u -d "+$d days" +%F):$(date -u -d "+$((d + n)) days" +%F)"; done; done | paste -sd,)
export DATES
hotel_out=$(run hotels.lua)
echo "$hotel_out"

# Cars: every demo airport, the same periods.
AIRPORTS=$(psql "$catalog_db" -Atc "SELECT DISTINCT location_code FROM cars ORDER BY 1" | paste -sd,)
export AIRPORTS
car_out=$(run cars.lua)
echo "$car_out"

# Hotel bookings: one night on every room type, over 60 nights from next week on, by $USERS users.
ROOMS=$(psql "$catalog_db" -Atc "SELECT hotel_id || ':' || id FROM room_types ORDER BY id" | paste -sd,)
export ROOMS
NIGHTS=$(for d in $(seq 7 66); do
    echo "$(date -u -d "+$d days" +%F):$(date -u -d "+$((d + 1)) days" +%F)"; done | paste -sd,)
export NIGHTS
book_out=$(run book_stay.lua)
echo "$book_out"
stays=$(psql "$booking_db" -Atc "SELECT count(*) FROM bookings WHERE product = 'hotel'")
confirmed=$(psql "$booking_db" -Atc "SELECT count(*) FROM bookings WHERE product = 'hotel' AND status = 'CONFIRMED'")
oversold=$(psql "$booking_db" -Atc \
    "SELECT count(*) FROM room_nights n JOIN room_types t USING (room_type_id) WHERE n.taken > t.rooms")

rps() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
pct() { echo "$1" | awk -v p="$2" '$1 == p {print $2}'; }
errors() { echo "$1" | awk '/Non-2xx/ {n = $5} END {print n + 0}'; }
ratio() { awk -v a="$(rps "$1")" -v b="$(rps "$2")" 'BEGIN {printf "%.2f", a / b}'; }

cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
table=$(cat <<TABLE
<!-- $SECTION:begin -->
Measured $(date -u +%F) with \`bench/stays.sh\` on $(nproc) cores ($cpu), $(free -g | awk '/Mem/ {print $2}') GiB,
PostgreSQL $(psql "$server/postgres" -Atc 'SHOW server_version' | cut -d' ' -f1), release build, \`itinera up\`
(every service in one process), wrk on the same machine ($THREADS threads, $CONNECTIONS connections,
$DURATION per scenario). Demo data: $flights flights, $listings hotels and cars; rate limits off.
Flight search answers are cached for 1 s in process; hotel and car search answers in the shared
search cache until something they show changes (in process here: no \`REDIS_URL\`).

| scenario | requests/s | p50 | p99 | non-2xx | target |
|---|---|---|---|---|---|
| flight search \`GET /api/flights\` (the reference) | $(rps "$flight_out") | $(pct "$flight_out" 50%) | $(pct "$flight_out" 99%) | $(errors "$flight_out") | |
| hotel search \`GET /api/listings/hotels/search\`, $(echo "$CITIES" | tr ',' '\n' | wc -l) cities × 18 stays | $(rps "$hotel_out") ($(ratio "$hotel_out" "$flight_out")× flight search) | $(pct "$hotel_out" 50%) | $(pct "$hotel_out" 99%) | $(errors "$hotel_out") | ≥ 1× flight search |
| car search \`GET /api/listings/cars/search\`, $(echo "$AIRPORTS" | tr ',' '\n' | wc -l) airports × 18 periods | $(rps "$car_out") ($(ratio "$car_out" "$flight_out")× flight search) | $(pct "$car_out" 50%) | $(pct "$car_out" 99%) | $(errors "$car_out") | |
| hotel booking \`POST /api/bookings\` (\`type: hotel\`, saga included), $USERS users | $(rps "$book_out") | $(pct "$book_out" 50%) | $(pct "$book_out" 99%) | $(errors "$book_out") | ≥ 500 confirmed/s |

Hotel bookings stored after the run: $stays, of which confirmed: $confirmed. Room-nights taken
beyond a room type's rooms: $oversold.
<!-- $SECTION:end -->
TABLE
)
doc=docs/benchmarks.md
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
