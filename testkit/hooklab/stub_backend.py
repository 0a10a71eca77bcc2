"""Stand-in backend for the hook's integration tests and benchmark (stdlib only; runs in a lab container).

``GET /v1/dhcp/options?...`` answers according to the current mode; every such request's query string is
recorded. Control endpoints (used by the tests from the host):

- ``POST /_mode`` ``{"mode": "<mode>", "delay_ms": <int>}`` switches the behaviour (and releases hung calls);
- ``GET /_requests`` → ``{"count": n, "queries": [...], "dns_queries": m}`` (the last 10 000 queries; m: UDP
  datagrams received by the DNS sink); ``POST /_reset`` clears them.

``--dns-sink PORT`` also binds UDP PORT and swallows every datagram (a DNS server that never answers: the
name-resolution test points Kea's resolv.conf at it).

Modes: ``install`` (66 + 224, the token derived from the query), ``local`` (66 = 0.0.0.0), ``slow`` (install
after ``delay_ms``), ``garbage`` (not JSON), ``array`` (JSON list), ``badkey`` (key 300), ``key0``, ``key255``,
``nonnumeric`` (a key that is not a number), ``badtype``
(``"66": 5``), ``huge`` (10 MB body), ``redirect`` (302 to itself, a loop), ``status500``, ``notallowed``
(66 + 224 + option 6), ``hang`` (reads the request, never answers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MODES = ("install", "local", "slow", "garbage", "array", "badkey", "key0", "key255", "nonnumeric", "badtype",
         "huge", "redirect", "status500", "notallowed", "hang")
HUGE = b"[" + b"0," * (5 * 1024 * 1024) + b"0]"  # ~10 MB of valid-looking JSON


class State:
    def __init__(self, tftp: str, public: str) -> None:
        self.lock = threading.Lock()
        self.mode = "install"
        self.delay_ms = 100
        self.release = threading.Event()
        self.queries: deque[str] = deque(maxlen=10_000)
        self.authorizations: deque[str] = deque(maxlen=10_000)  # each call's Authorization header ("" = none)
        self.count = 0
        self.dns_queries = 0
        self.tftp = tftp
        self.public = public

    def install_answer(self, query: str) -> dict[str, str]:
        token = hashlib.sha256(query.split("&mac=")[0].encode()).hexdigest()[:16]
        return {"66": self.tftp, "224": f"{self.public}/v1/install/{token}"}


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: int, body: bytes, ctype: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data).encode())

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/_requests":
                with state.lock:
                    self._json(200, {"count": state.count, "queries": list(state.queries),
                                     "dns_queries": state.dns_queries,
                                     "authorizations": list(state.authorizations)})
                return
            if parts.path == "/_health":
                self._json(200, {"ok": True})
                return
            if parts.path != "/v1/dhcp/options":
                self._json(404, {"error": "not found"})
                return
            with state.lock:
                state.count += 1
                state.queries.append(parts.query)
                state.authorizations.append(self.headers.get("Authorization", ""))
                mode, delay, release = state.mode, state.delay_ms, state.release
            self.answer(mode, delay, release, parts.query)

        def answer(self, mode: str, delay: int, release: threading.Event, query: str) -> None:
            if mode == "hang":
                release.wait(600)
                self.close_connection = True
                return
            if mode == "slow":
                release.wait(delay / 1000.0)
                self._json(200, state.install_answer(query))
            elif mode == "install":
                self._json(200, state.install_answer(query))
            elif mode == "local":
                self._json(200, {"66": "0.0.0.0"})
            elif mode == "garbage":
                self._send(200, b"this is not json", "text/plain")
            elif mode == "array":
                self._json(200, ["66", "10.89.0.4"])
            elif mode == "badkey":
                self._json(200, {"300": "x", "66": "10.89.0.4"})
            elif mode == "key0":
                self._json(200, {"0": "x", "66": "10.89.0.4"})
            elif mode == "key255":
                self._json(200, {"255": "x", "66": "10.89.0.4"})
            elif mode == "nonnumeric":
                self._json(200, {"tftp": "10.89.0.4", "66": "10.89.0.4"})
            elif mode == "badtype":
                self._json(200, {"66": 5, "224": "http://x/"})
            elif mode == "huge":
                self._send(200, HUGE)
            elif mode == "redirect":
                self._send(302, b"", headers={"Location": self.path})
            elif mode == "status500":
                self._json(500, {"error": "boom"})
            elif mode == "notallowed":
                self._json(200, {**state.install_answer(query), "6": "1.1.1.1"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            path = urlsplit(self.path).path
            if path == "/_reset":
                with state.lock:
                    state.queries.clear()
                    state.authorizations.clear()
                    state.count = 0
                    state.dns_queries = 0
                self._json(200, {"ok": True})
                return
            if path != "/_mode":
                self._json(404, {"error": "not found"})
                return
            try:
                data = json.loads(raw)
                mode = str(data["mode"])
                if mode not in MODES:
                    raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
                delay = int(data.get("delay_ms", 100))
            except (ValueError, KeyError, TypeError) as exc:
                self._json(400, {"error": str(exc)})
                return
            with state.lock:
                state.mode = mode
                state.delay_ms = delay
                state.release.set()  # let hung calls go
                state.release = threading.Event()
            self._json(200, {"mode": mode, "delay_ms": delay})

    return Handler


def dns_sink(state: State, port: int) -> None:
    """Receives UDP datagrams on port and never answers (a resolver that swallows queries)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    while True:
        sock.recv(4096)
        with state.lock:
            state.dns_queries += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--tftp", default="10.89.0.4")
    ap.add_argument("--public", default="http://10.89.0.3:8080")
    ap.add_argument("--dns-sink", type=int, default=0, help="UDP port of a DNS server that never answers")
    args = ap.parse_args()
    state = State(args.tftp, args.public)
    if args.dns_sink:
        threading.Thread(target=dns_sink, args=(state, args.dns_sink), daemon=True).start()
    server = ThreadingHTTPServer(("0.0.0.0", args.port), make_handler(state))
    server.daemon_threads = True
    server.request_queue_size = 128
    server.serve_forever()


if __name__ == "__main__":
    main()
