#!/usr/bin/env bash
# Browser tests: the whole platform (`itinera up`, on its own databases and ports) driven by
# Playwright through Debian's Chromium, headless. Installs what it needs: the `chromium` package
# and, in a virtualenv, Playwright, pytest and axe-core (pinned). Playwright never downloads a
# browser here; it drives /usr/bin/chromium. Screenshots go to docs/screenshots/.
# Run: scripts/browser-tests.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
venv="$HOME/.cache/itinera/browser-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import playwright, pytest, axe_playwright_python' 2>/dev/null ||
    "$venv/bin/pip" install -q playwright==1.65.3 pytest==8.4.2 axe-playwright-python==0.1.8

./scripts/setup.sh >/dev/null
# shellcheck source=/dev/null
. .itinera/env
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
cargo build --locked -q -p itinera

# Its own databases (recreated) and ports, beside anything else running on the machine.
export DATABASE_NAME_PREFIX=itinera_browser_ ITINERA_MODE=demo SEED_DAYS=3 LOG_LEVEL=warn
# Every test signs a new traveller up from this one address; the login limit has tests of its own.
export RATE_LIMIT_LOGIN=600/1m
export GATEWAY_PORT=4100 WEB_PORT=4101 IDENTITY_PORT=5101 IDENTITY_GRPC_PORT=9191 \
    BOOKING_PORT=5102 NOTIFICATION_PORT=5103 CATALOG_PORT=5104 PAYMENT_PORT=5105
server="${DATABASE_URL%/}"
for service in identity catalog booking notification payment; do
    psql "$server/postgres" -qc "DROP DATABASE IF EXISTS itinera_browser_$service WITH (FORCE)" >/dev/null 2>&1
done

log=$(mktemp)
"$CARGO_TARGET_DIR/debug/itinera" up >"$log" 2>&1 &
platform=$!
trap 'kill $platform 2>/dev/null || true; wait $platform 2>/dev/null || true' EXIT
base="http://127.0.0.1:$GATEWAY_PORT"
for _ in $(seq 1 120); do
    curl -sf "$base/ready" >/dev/null && break
    kill -0 $platform 2>/dev/null || { cat "$log"; exit 1; }
    sleep 1
done
# Booking sells only flights it has heard of: wait until it has the demo schedule.
flights=$(psql "$server/itinera_browser_catalog" -Atc "SELECT count(*) FROM flights")
for _ in $(seq 1 120); do
    [ "$(psql "$server/itinera_browser_booking" -Atc "SELECT count(*) FROM flights")" -ge "$flights" ] && break
    sleep 1
done

status=0
ITINERA_URL="$base" CHROMIUM="$(command -v chromium)" SCREENSHOTS=docs/screenshots \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider services/web/browser "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "== platform log (last 80 lines)"
    tail -n 80 "$log"
fi
exit "$status"
