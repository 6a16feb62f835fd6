#!/usr/bin/env bash
# Schema fuzzing of the whole public API: runs the platform in production mode (its own ports and
# databases, rate limits off), then lets schemathesis (PyPI, pinned) send generated requests for
# every operation of docs/openapi.yaml, as a customer and as an administrator. Fails on any 5xx and
# on any response the document does not describe. Run by scripts/test.sh after setup.sh; on its own:
#   scripts/fuzz.sh [--max-examples N] [more schemathesis options]
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=/dev/null
. .itinera/env
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
CACHE="${ITINERA_CACHE:-$HOME/.cache/itinera}"
VENV="$CACHE/fuzz"
SCHEMATHESIS=4.32.5
BASE="${FUZZ_PORT_BASE:-4600}"
GATEWAY="http://127.0.0.1:$BASE"
RUN=$(date +%s)$$
PREFIX="itinera_fuzz_${RUN}_"
WORK=$(mktemp -d)
LOG="$WORK/platform.log"

log() { echo "fuzz: $*" >&2; }

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS"; then
    log "installing schemathesis $SCHEMATHESIS from PyPI into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS"
fi
cargo build --locked -q -p itinera --bin itinera

admin_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
platform_pid=
cleanup() {
    if [ -n "$platform_pid" ]; then
        kill "$platform_pid" 2>/dev/null || true
        wait "$platform_pid" 2>/dev/null || true
    fi
    for service in identity catalog booking notification payment; do
        psql "${DATABASE_URL%/}/postgres" -qc "DROP DATABASE IF EXISTS \"$PREFIX$service\" WITH (FORCE)" \
            >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

env ITINERA_MODE=production PAYMENT_PROCESSOR=simulated \
    ITINERA_ADMIN_USERNAME=fuzz-admin ITINERA_ADMIN_PASSWORD="$admin_password" \
    DATABASE_NAME_PREFIX="$PREFIX" DATABASE_MAX_CONNECTIONS=8 \
    GATEWAY_PORT="$BASE" IDENTITY_PORT=$((BASE + 1)) BOOKING_PORT=$((BASE + 2)) \
    NOTIFICATION_PORT=$((BASE + 3)) CATALOG_PORT=$((BASE + 4)) PAYMENT_PORT=$((BASE + 5)) \
    IDENTITY_GRPC_PORT=$((BASE + 9)) SEED_DAYS=2 RATE_LIMIT_ENABLED=false \
    DISCOVERY_REGISTER=false REDIS_URL= KAFKA_BROKERS= LOG_FORMAT=json LOG_LEVEL=warn \
    "$CARGO_TARGET_DIR/debug/itinera" up >"$LOG" 2>&1 &
platform_pid=$!
for _ in $(seq 1 120); do
    if curl -fsS "$GATEWAY/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$platform_pid" 2>/dev/null; then
        log "the platform stopped at start:"
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.5
done

# A token for an account: logged in through the gateway, as a browser would.
token() {
    curl -fsS -X POST "$GATEWAY/api/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"$2\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
customer_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
curl -fsS -X POST "$GATEWAY/api/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"fuzz-customer\",\"email\":\"fuzz@example.com\",\"password\":\"$customer_password\"}" \
    >/dev/null

status=0
for role in customer admin; do
    case $role in
        customer) bearer=$(token fuzz-customer "$customer_password") ;;
        admin) bearer=$(token fuzz-admin "$admin_password") ;;
    esac
    log "every operation as the $role"
    # scripts/fuzz.toml: where positive_data_acceptance also takes 400 or 422 for a request the
    # document allows, because JSON Schema cannot state what the service checks (a check digit,
    # today's date, fields or parameters that depend on each other, references to stored data);
    # each operation's reason is written there.
    "$VENV/bin/schemathesis" --no-color --config-file scripts/fuzz.toml \
        run "$GATEWAY/api/openapi.yaml" --url "$GATEWAY" \
        --checks all --max-examples "${FUZZ_MAX_EXAMPLES:-15}" --seed 1 --workers 2 \
        --request-timeout 10 --suppress-health-check all --warnings off \
        -H "Authorization: Bearer $bearer" "$@" || status=1
done
if grep -q '"level":"ERROR"' "$LOG"; then
    log "the platform logged errors while fuzzed:"
    grep '"level":"ERROR"' "$LOG" | head -20 >&2
    status=1
fi
exit $status
