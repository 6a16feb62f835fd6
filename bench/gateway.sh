#!/usr/bin/env bash
# The gateway against nginx, proxying to the same upstream, with the same load tool in the same run
# on the same machine: requests/s and p99 for a small authenticated GET. The gateway verifies the
# JWT (EdDSA, keys from identity's JWKS) on every request; nginx only proxies. The upstream is a
# second nginx returning a small JSON body, so that the comparison is the proxies' own cost.
# Writes the results into docs/benchmarks.md (section gateway). Run: bench/gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-15}"
THREADS="${THREADS:-2}"
UPSTREAM_PORT=18081
NGINX_PORT=18080
IDENTITY_PORT=18001
GATEWAY_PORT=18000
export DATABASE_NAME_PREFIX=itinera_gbench_ LOG_LEVEL=warn
# One client address and one user: the limits would refuse most of the load.
export RATE_LIMIT_ENABLED=false

./scripts/setup.sh
# shellcheck source=/dev/null
. .itinera/env
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
cargo build --release --locked -p itinera
bin="$CARGO_TARGET_DIR/release/itinera"
server="${DATABASE_URL%/}"
psql "$server/postgres" -qc "DROP DATABASE IF EXISTS itinera_gbench_identity WITH (FORCE)" >/dev/null

work=$(mktemp -d)
mkdir -p "$work/logs"
cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    upstream backend { server 127.0.0.1:$UPSTREAM_PORT; keepalive 128; }
    # The upstream both proxies call.
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / { default_type application/json; return 200 '{"userId":1,"username":"bench","role":"customer"}'; }
    }
    # nginx as the proxy under test.
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
CONF
nginx -p "$work" -c "$work/nginx.conf"
IDENTITY_PORT=$IDENTITY_PORT IDENTITY_GRPC_PORT=18091 "$bin" serve identity >"$work/logs/identity.log" 2>&1 &
identity=$!
trap 'kill $identity ${gateway:-} 2>/dev/null || true; nginx -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$IDENTITY_PORT/health" >/dev/null && break; sleep 0.5; done
GATEWAY_PORT=$GATEWAY_PORT IDENTITY_UPSTREAMS="http://127.0.0.1:$UPSTREAM_PORT" \
    JWT_JWKS_URL="http://127.0.0.1:$IDENTITY_PORT/.well-known/jwks.json" GATEWAY_HEALTH_INTERVAL_MS=0 \
    "$bin" serve gateway >"$work/logs/gateway.log" 2>&1 &
gateway=$!
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$GATEWAY_PORT/health" >/dev/null && break; sleep 0.5; done

api="http://127.0.0.1:$IDENTITY_PORT"
curl -sf -X POST "$api/api/auth/register" -H 'content-type: application/json' \
    -d '{"username":"gbencher","password":"bench-password-1","email":"gbencher@example.com"}' >/dev/null
TOKEN=$(curl -sf -X POST "$api/api/auth/login" -H 'content-type: application/json' \
    -d '{"username":"gbencher","password":"bench-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# Both answer before measuring; the gateway refuses a request without the token.
curl -sf -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$GATEWAY_PORT/api/users/me" >/dev/null
curl -sf "http://127.0.0.1:$NGINX_PORT/api/users/me" >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GATEWAY_PORT/api/users/me")" = 401 ]

load() {
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$1/api/users/me"
}
load "http://127.0.0.1:$NGINX_PORT" >/dev/null 2>&1 || true # warm-up
nginx_out=$(load "http://127.0.0.1:$NGINX_PORT")
gateway_out=$(load "http://127.0.0.1:$GATEWAY_PORT")
echo "$nginx_out"
echo "$gateway_out"

rps() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
p99_ms() { echo "$1" | awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; printf "%.2f", v}'; }
errors() { echo "$1" | awk '/Non-2xx/ {n = $5} END {print n + 0}'; }
ratio_rps=$(awk -v g="$(rps "$gateway_out")" -v n="$(rps "$nginx_out")" 'BEGIN {printf "%.2f", g / n}')
ratio_p99=$(awk -v g="$(p99_ms "$gateway_out")" -v n="$(p99_ms "$nginx_out")" 'BEGIN {printf "%.2f", g / n}')
cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
table=$(cat <<TABLE
<!-- gateway:begin -->
Measured $(date -u +%F) with \`bench/gateway.sh\` on $(nproc) cores ($cpu), release build, $(nginx -v 2>&1 | sed 's/.*: //'),
wrk on the same machine ($THREADS threads, $CONNECTIONS connections, ${DURATION} s each, nginx first after a warm-up). Both proxy
\`GET /api/users/me\` with a bearer token to the same upstream (an nginx server returning 50 bytes of JSON);
the gateway verifies the EdDSA token, picks the instance, checks nothing else (rate limits off).

| proxy | requests/s | p50 | p99 | non-2xx |
|---|---|---|---|---|
| nginx | $(rps "$nginx_out") | $(echo "$nginx_out" | awk '$1 == "50%" {print $2}') | $(echo "$nginx_out" | awk '$1 == "99%" {print $2}') | $(errors "$nginx_out") |
| Itinera gateway | $(rps "$gateway_out") | $(echo "$gateway_out" | awk '$1 == "50%" {print $2}') | $(echo "$gateway_out" | awk '$1 == "99%" {print $2}') | $(errors "$gateway_out") |

Gateway ÷ nginx: $ratio_rps of the requests/s (target ≥ 0.9), $ratio_p99 of the p99 (target ≤ 1.2).
<!-- gateway:end -->
TABLE
)
python3 - docs/benchmarks.md "$table" <<'PY'
import re, sys
path, table = sys.argv[1], sys.argv[2]
text = open(path).read()
pattern = re.compile(r"<!-- gateway:begin -->.*?<!-- gateway:end -->", re.S)
text = pattern.sub(lambda _: table, text) if pattern.search(text) else text.rstrip("\n") + "\n\n## Gateway against nginx\n\n" + table + "\n"
open(path, "w").write(text)
PY
echo "results written to docs/benchmarks.md"
