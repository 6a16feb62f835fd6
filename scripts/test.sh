#!/usr/bin/env bash
# Runs every check and test from a fresh clone: prepares the machine (scripts/setup.sh), then
# formatting, lints, and the whole test suite against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
./scripts/kafka.sh start
export TEST_KAFKA_BROKERS="${TEST_KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}"
# Python peers from PyPI, in the broker's venv: a real SMTP server for the notification tests
# (aiosmtpd) and a real Socket.IO client for the live-update tests (python-socketio).
venv="$HOME/.cache/itinera/venv"
"$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null || "$venv/bin/pip" install -q aiosmtpd==1.4.6
"$venv/bin/python" -c 'import socketio, websocket, requests' 2>/dev/null ||
    "$venv/bin/pip" install -q "python-socketio[client]==5.18.1" websocket-client==1.9.2 requests==2.34.2
export TEST_SMTP_PYTHON="$venv/bin/python"
export TEST_SOCKETIO_PYTHON="$venv/bin/python"
# shellcheck source=/dev/null
. .itinera/env
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Databases left behind by test processes that were killed before they could drop them. One that
# somebody is connected to belongs to a test run still going (another clone's), and stays.
psql "${TEST_DATABASE_URL%/}/postgres" -Atqc \
    "SELECT datname FROM pg_database d WHERE datname ~ '^test_[a-z]+_[0-9a-f]{32}$'
       AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)" |
    while read -r stale; do
        psql "${TEST_DATABASE_URL%/}/postgres" -qc "DROP DATABASE IF EXISTS \"$stale\"" >/dev/null 2>&1 || true
    done

# cargo-deny, pinned, built once into the cache.
tools="$HOME/.cache/itinera/tools"
if ! "$tools/bin/cargo-deny" --version 2>/dev/null | grep -q ' 0\.20\.2$'; then
    cargo install --locked --quiet cargo-deny --version 0.20.2 --root "$tools"
fi

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo deny (policy in deny.toml)"
"$tools/bin/cargo-deny" --log-level error check licenses bans sources
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --profile ci
else
    cargo test --workspace --locked
fi
echo "== schema fuzzing (scripts/fuzz.sh)"
./scripts/fuzz.sh
echo "== browser tests (scripts/browser-tests.sh)"
./scripts/browser-tests.sh
