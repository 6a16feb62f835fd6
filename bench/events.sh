#!/usr/bin/env bash
# Event backbone: relay throughput (events already in the outbox, relayed to a subscriber that
# acknowledges at once, then to an idempotent consumer that stores each one) and commit-to-effect
# latency (one event per transaction at a
# steady rate), over the in-process bus and over Kafka (the local tansu broker).
# Writes the results into docs/benchmarks.md. Run: bench/events.sh
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
./scripts/kafka.sh start
# shellcheck source=/dev/null
. .itinera/env
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/itinera/target}"
BULK="${BULK:-20000}" PACED="${PACED:-2000}" RATE="${RATE:-200}"
cargo build --release --locked -p platform --features testing --example events_bench
bin="$CARGO_TARGET_DIR/release/examples/events_bench"
memory=$("$bin" memory "$BULK" "$PACED" "$RATE")
kafka=$(KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092} "$bin" kafka "$BULK" "$PACED" "$RATE")
echo "$memory"; echo "$kafka"

cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
table=$(cat <<TABLE
<!-- events:begin -->
Measured $(date -u +%F) with \`bench/events.sh\` on $(nproc) cores ($cpu), PostgreSQL
$(psql "${TEST_DATABASE_URL%/}/postgres" -Atc 'SHOW server_version' | cut -d' ' -f1), release build; Kafka is the local tansu broker
(in memory) on the same machine. Latency is from an event's creation in its transaction to its
effect stored by the consumer (outbox → relay → bus → consumer inbox and effect).

| transport | events | relay alone (events/s) | relay + consumer storing each (events/s) | latency run | p50 | p99 | max |
|---|---|---|---|---|---|---|---|
$memory
$kafka
<!-- events:end -->
TABLE
)
python3 - docs/benchmarks.md "$table" <<'PY'
import re, sys
path, table = sys.argv[1], sys.argv[2]
text = open(path).read()
pattern = re.compile(r"<!-- events:begin -->.*?<!-- events:end -->", re.S)
text = pattern.sub(lambda _: table, text) if pattern.search(text) else text.rstrip("\n") + "\n\n## Events\n\n" + table + "\n"
open(path, "w").write(text)
PY
echo "results written to docs/benchmarks.md"
