#!/usr/bin/env bash
# Prepares this machine to run and test Itinera, and is safe to run again:
#   - a PostgreSQL server on 127.0.0.1:5432 (installed from Debian's packages and started if needed);
#   - a role the platform can connect as;
#   - a Redis server on 127.0.0.1:6379 (shared rate limits; installed and started if needed);
#   - OpenSSL's headers and pkg-config, for the Kafka client's TLS;
#   - .itinera/env, read by scripts/up.sh and scripts/test.sh, naming that server.
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST=127.0.0.1
PGPORT="${PGPORT:-5432}"
STATE_DIR=.itinera
mkdir -p "$STATE_DIR"

log() { echo "setup: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif have sudo; then sudo "$@"
    else log "need root for: $*"; return 1
    fi
}

apt_install() {
    log "installing $* from Debian's packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres_installed() {
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        apt_install postgresql postgresql-client
    elif ! have psql || ! have pg_isready; then
        apt_install postgresql-client
    fi
}

ensure_postgres_running() {
    if pg_isready -q -h "$PGHOST" -p "$PGPORT"; then return 0; fi
    log "starting PostgreSQL"
    for version in $(ls /etc/postgresql 2>/dev/null); do
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    done
    for _ in $(seq 1 30); do
        if pg_isready -q -h "$PGHOST" -p "$PGPORT"; then return 0; fi
        sleep 1
    done
    log "PostgreSQL is not accepting connections on $PGHOST:$PGPORT; see /var/log/postgresql/"
    exit 1
}

# The server URL (no database) the platform connects with: DATABASE_URL if the caller set one, the
# postgres role if the server trusts local TCP connections, otherwise a role `itinera` created
# through the server's Unix socket (a fresh Debian install asks for passwords over TCP).
choose_server_url() {
    if [ -n "${ITINERA_DATABASE_SERVER:-}" ]; then echo "$ITINERA_DATABASE_SERVER"; return; fi
    local trusted="postgres://postgres@$PGHOST:$PGPORT"
    if psql "$trusted/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1; then echo "$trusted"; return; fi
    local itinera="postgres://itinera:itinera@$PGHOST:$PGPORT"
    if ! psql "$itinera/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1; then
        log "creating the PostgreSQL role itinera (may create databases)"
        local sql
        sql=$(mktemp)
        cat >"$sql" <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'itinera') THEN
    CREATE ROLE itinera LOGIN CREATEDB PASSWORD 'itinera';
  END IF;
END $$;
SQL
        chmod 644 "$sql"
        as_root su postgres -c "psql -q -f $sql" >/dev/null
        rm -f "$sql"
    fi
    echo "$itinera"
}

ensure_redis_running() {
    local port="${REDIS_PORT:-6379}"
    if have redis-cli && redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then return 0; fi
    have redis-server || apt_install redis-server
    log "starting Redis on 127.0.0.1:$port"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes >/dev/null
    for _ in $(seq 1 50); do
        redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    log "Redis did not start on 127.0.0.1:$port"
    return 1
}

# The Kafka client (librdkafka, built by cargo) speaks TLS through the system's OpenSSL.
ensure_build_libraries() {
    if ! have pkg-config || ! pkg-config --exists openssl 2>/dev/null; then
        apt_install pkg-config libssl-dev
    fi
}

ensure_build_libraries
ensure_postgres_installed
ensure_postgres_running
ensure_redis_running
server=$(choose_server_url)
cat >"$STATE_DIR/env" <<EOF2
# Written by scripts/setup.sh: this machine's PostgreSQL server (no database: each service has its own).
ITINERA_DATABASE_SERVER="$server"
export DATABASE_URL="\${DATABASE_URL:-\$ITINERA_DATABASE_SERVER}"
export TEST_DATABASE_URL="\${TEST_DATABASE_URL:-\$ITINERA_DATABASE_SERVER}"
EOF2
log "PostgreSQL ready at ${server/:itinera@/:***@}"
