#!/usr/bin/env bash
# The flight results page through the gateway (the web service calling the search API through the
# gateway in turn), signed in and signed out, beside the search API itself as the reference, with
# wrk against the whole platform in one process (release build) and the demo schedule. The page's
# target is a p99 under 50 ms at 64 connections. Writes the table into docs/benchmarks.md.
# Run: bench/web.sh
#
# The platform runs on its own databases (prefix itinera_bench_), recreated on each run.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-20s}"
THREADS="${THREADS:-2}"
PORT=4000
SECTION=web
export DATABASE_NAME_PREFIX=itinera_bench_
export SEED_DAYS="${SEED_DAYS:-30}"
export LOG_LEVEL="${LOG_LEVEL:-warn}"
export RATE_LIMIT_ENABLED=false

./scripts/setup.sh
# shellcheck source=/dev/null
. .itinera/env
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked -p itinera

server="${DATABASE_URL%/}"
for service in identity catalog booking notification payment; do
    psql "$server/postgres" -qc "DROP DATABASE IF EXISTS itinera_bench_$service WITH (FORCE)" >/dev/null
done
log=$(mktemp)
"$CARGO_TARGET_DIR/release/itinera" up >"$log" 2>&1 &
platform=$!
trap 'kill $platform 2>/dev/null || true; wait $platform 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break
    sleep 1
done
api="http://127.0.0.1:$PORT"
flights=$(psql "$server/itinera_bench_catalog" -Atc "SELECT count(*) FROM flights")

# A signed-in browser: register through the page, keep its cookies.
jar=$(mktemp)
curl -sf -c "$jar" -b "$jar" "$api/register" >/dev/null
csrf=$(awk '$6 == "itinera_csrf" {print $7}' "$jar")
curl -sf -c "$jar" -b "$jar" -o /dev/null --data-urlencode "csrf=$csrf" \
    -d "username=pagebench&email=pagebench@example.com&password=bench-password-1" "$api/register"
COOKIE=$(awk '$6 ~ /^itinera_/ {printf "%s%s=%s", sep, $6, $7; sep="; "}' "$jar")
export COOKIE

export ROUTES="Paris:London,London:Paris,Frankfurt:New York,New York:London,Dubai:Singapore,Amsterdam:Paris,Los Angeles:New York,Singapore:London,Paris:Dubai,London:Frankfurt"
DATES=$(for d in 2 5 9 14 20 27; do date -u -d "+$d days" +%F; done | paste -sd,)
export DATES
run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "bench/lua/$1" "$api"; }
api_out=$(run search.lua)
echo "$api_out"
page_out=$(run pages.lua)
echo "$page_out"
anonymous_out=$(COOKIE="" run pages.lua)
echo "$anonymous_out"
page_bytes=$(curl -s -b "$COOKIE" -o /dev/null -w '%{size_download}' \
    "$api/flights?from=Paris&to=London&date=$(date -u -d '+5 days' +%F)")

rps() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
pct() { echo "$1" | awk -v p="$2" '$1 == p {print $2}'; }
errors() { echo "$1" | awk '/Non-2xx/ {n = $5} END {print n + 0}'; }
ratio() { awk -v a="$(rps "$1")" -v b="$(rps "$2")" 'BEGIN {printf "%.2f", a / b}'; }

cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
table=$(cat <<TABLE
<!-- $SECTION:begin -->
Measured $(date -u +%F) with \`bench/web.sh\` on $(nproc) cores ($cpu), $(free -g | awk '/Mem/ {print $2}') GiB,
release build, \`itinera up\` (every service in one process), wrk on the same machine ($THREADS
threads, $CONNECTIONS connections, $DURATION per scenario), $flights flights, rate limits off. Each page
request goes browser → gateway → web → gateway → catalog; search answers are cached for 1 s in
catalog. The results page for Paris → London is $page_bytes bytes.

| scenario | requests/s | p50 | p99 | non-2xx | target |
|---|---|---|---|---|---|
| search API \`GET /api/flights\` (the reference) | $(rps "$api_out") | $(pct "$api_out" 50%) | $(pct "$api_out" 99%) | $(errors "$api_out") | |
| results page \`GET /flights\`, signed in | $(rps "$page_out") ($(ratio "$page_out" "$api_out")× the API) | $(pct "$page_out" 50%) | $(pct "$page_out" 99%) | $(errors "$page_out") | p99 < 50 ms |
| results page \`GET /flights\`, signed out | $(rps "$anonymous_out") ($(ratio "$anonymous_out" "$api_out")× the API) | $(pct "$anonymous_out" 50%) | $(pct "$anonymous_out" 99%) | $(errors "$anonymous_out") | p99 < 50 ms |
<!-- $SECTION:end -->
TABLE
)
python3 - docs/benchmarks.md "$table" "$SECTION" <<'PY'
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
echo "results written to docs/benchmarks.md"
