"""A real HTTP webhook receiver for the outbox tests and benchmark, run as its own process.

    python tests/webhook_receiver.py [--port 0] [--secret S] [--record FILE.jsonl]

Listens on 127.0.0.1 (HTTP/1.1, keep-alive, a thread per connection) and prints
``listening on 127.0.0.1:PORT`` on stdout once it accepts connections. Every request to any path
but /_control is answered according to the current mode and, with --record, appended to FILE
as one JSON line: {"n", "path", "headers", "body", "status", "signature_ok", "at"}. With a
secret, X-Omen-Signature is checked (hex HMAC-SHA256 over X-Omen-Timestamp + "." + body); a
bad or missing signature is answered 401 and recorded with signature_ok false.

Control (POST /_control, JSON body, answered with the resulting state):

    {"mode": "ok"}                               2xx for everything (the default)
    {"mode": "fail", "status": 503, "retry_after": "1"}   that status for everything
    {"reject_containing": "pm-bad", "reject_status": 400} that status for bodies containing it
    {"delay_ms": 5}                              sleep before each answer (a slow receiver)

GET /_control answers the state and the number of requests received.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class State:
    def __init__(self, secret: str | None, record: str | None):
        self.secret = secret.encode() if secret else None
        self.lock = threading.Lock()
        self.mode = "ok"
        self.status = 503
        self.retry_after: str | None = None
        self.reject_containing: str | None = None
        self.reject_status = 400
        self.delay_ms = 0.0
        self.count = 0
        self.record = open(record, "a", encoding="utf-8") if record else None  # noqa: SIM115

    def view(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "status": self.status,
            "retry_after": self.retry_after,
            "reject_containing": self.reject_containing,
            "reject_status": self.reject_status,
            "delay_ms": self.delay_ms,
            "count": self.count,
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as separate writes: without this, Nagle's algorithm holds
        # the body until the client's delayed ACK (40 ms a request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/_control":
            with self.state.lock:
                view = self.state.view()
            self._answer(200, json.dumps(view).encode())
        else:
            self._answer(404, b'{"error":"not found"}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        state = self.state
        if self.path == "/_control":
            change = json.loads(body or b"{}")
            with state.lock:
                for key, value in change.items():
                    setattr(state, key, value)
                view = state.view()
            self._answer(200, json.dumps(view).encode())
            return
        if state.delay_ms:
            time.sleep(state.delay_ms / 1000)
        signature_ok = None
        if state.secret is not None:
            timestamp = self.headers.get("X-Omen-Timestamp", "")
            expected = hmac.new(
                state.secret, timestamp.encode() + b"." + body, hashlib.sha256
            ).hexdigest()
            signature_ok = hmac.compare_digest(expected, self.headers.get("X-Omen-Signature", ""))
        headers: dict[str, str] = {}
        with state.lock:
            state.count += 1
            n = state.count
            if signature_ok is False:
                status = 401
            elif state.mode == "fail":
                status = state.status
                if state.retry_after is not None:
                    headers["Retry-After"] = str(state.retry_after)
            elif state.reject_containing and state.reject_containing.encode() in body:
                status = state.reject_status
            else:
                status = 200
            if state.record is not None:
                state.record.write(
                    json.dumps(
                        {
                            "n": n,
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "body": body.decode("utf-8", "replace"),
                            "status": status,
                            "signature_ok": signature_ok,
                            "at": time.time(),
                        }
                    )
                    + "\n"
                )
                state.record.flush()
        self._answer(status, b"{}" if status < 300 else b'{"error":"refused"}', headers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret")
    parser.add_argument("--record", help="append every request to this JSON-lines file")
    args = parser.parse_args(argv)
    Handler.state = State(args.secret, args.record)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
