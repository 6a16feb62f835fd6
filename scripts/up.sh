#!/usr/bin/env bash
# Sets up this machine (scripts/setup.sh), builds Itinera, and runs the whole platform in one
# process with demo data. Arguments are passed to `itinera up` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
# shellcheck source=/dev/null
. .itinera/env
# setup.sh started Redis: live updates fan out through it (and --instances needs that).
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:${REDIS_PORT:-6379}}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
echo "Building Itinera (release; the first build takes several minutes)..." >&2
cargo build --release --locked -p itinera
exec "$CARGO_TARGET_DIR/release/itinera" up "$@"
