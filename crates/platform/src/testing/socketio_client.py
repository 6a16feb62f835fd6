#!/usr/bin/env python3
"""A Socket.IO client for Itinera's live-update tests, built on python-socketio (not Itinera's code).

It connects to a URL with a token (in the Authorization header or the Socket.IO auth payload),
then reads commands from stdin, one per line, and reports everything as JSON lines on stdout:

    call <event> <json>    emit <event> with <json> and wait for the acknowledgement
    emit <event> <json>    emit without asking for an acknowledgement
    quit

    {"event": "connected", "sid": ..., "transport": ...} or {"event": "connect_error", "data": ...}
    {"event": "ack", "name": <event>, "data": <reply>}
    {"event": "update", "data": <payload>}, {"event": "message", "data": <payload>}
"""

import argparse
import json
import sys
import threading

import socketio

lock = threading.Lock()


def report(**fields):
    with lock:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--token-in", choices=["header", "auth", "none"], default="header")
    parser.add_argument("--transports", default="polling,websocket")
    args = parser.parse_args()

    sio = socketio.Client(reconnection=False)

    @sio.on("update")
    def on_update(data):
        report(event="update", data=data)

    @sio.on("message")
    def on_message(data):
        report(event="message", data=data)

    @sio.event
    def connect_error(data):
        report(event="connect_error", data=data)

    @sio.event
    def disconnect(*_reason):
        report(event="disconnected")

    headers, auth = {}, None
    if args.token_in == "header":
        headers["Authorization"] = f"Bearer {args.token}"
    elif args.token_in == "auth":
        auth = {"token": args.token}
    try:
        sio.connect(
            args.url,
            headers=headers,
            auth=auth,
            transports=args.transports.split(","),
            wait_timeout=10,
        )
    except socketio.exceptions.ConnectionError as error:
        report(event="refused", data=str(error))
        return
    report(event="connected", sid=sio.get_sid(), transport=sio.transport())

    for line in sys.stdin:
        parts = line.strip().split(" ", 2)
        if not parts or not parts[0]:
            continue
        command = parts[0]
        if command == "quit":
            break
        name = parts[1]
        data = json.loads(parts[2]) if len(parts) > 2 else None
        if command == "call":
            try:
                reply = sio.call(name, data, timeout=10)
                report(event="ack", name=name, data=reply)
            except socketio.exceptions.TimeoutError:
                report(event="ack_timeout", name=name)
        elif command == "emit":
            sio.emit(name, data)
            report(event="emitted", name=name)
        elif command == "transport":
            report(event="transport", data=sio.transport())
    sio.disconnect()


if __name__ == "__main__":
    main()
