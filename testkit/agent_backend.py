"""A small stand-in for the provisioning backend and the file server, on 127.0.0.1, for agent tests.

Implements the agent's side of the backend HTTP contract (docs/ARCHITECTURE.md): the scenario (a POST), the
netplan file, progress/result/booted POSTs (recorded), and ``/files/<name>`` serving image files with
faults on demand: ``truncate_at`` (close after N bytes), ``corrupt_at`` (flip one byte), ``rate_bps``
(throttle, so a test can cut the power mid-write) and ``stall_at`` (send N bytes, then nothing while the
connection stays open). ``progress_delay`` makes each "writing" progress POST take that long before it is recorded,
and ``events`` keeps the order in which progress and result POSTs were recorded. Progress and result bodies are
validated by the real backend's schemas: what the backend would refuse (422) is refused here too, and kept in
``rejected``. As the real backend binds a token to its board, every agent call must carry the board's
``serial`` and ``mac`` (query parameters): a call without them is refused (403) and kept in ``unidentified``;
``identities`` records what each call sent. A scenario set with ``serial=None`` gets the serial the board sends
(the backend records a machine's serial on first contact).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ValidationError

from backend.schemas import ProgressIn, ResultIn


@dataclass
class FileFault:
    truncate_at: int | None = None
    corrupt_at: int | None = None
    rate_bps: int | None = None
    stall_at: int | None = None


@dataclass
class StubState:
    scenario: dict[str, Any] = field(default_factory=dict)
    netplan: str = ""
    files: dict[str, Path] = field(default_factory=dict)
    faults: dict[str, FileFault] = field(default_factory=dict)
    progress: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    booted: int = 0
    requests: list[str] = field(default_factory=list)
    progress_delay: float = 0.0
    events: list[str] = field(default_factory=list)
    on_request: Callable[[str], None] | None = None  # called with "GET /path" before each request is answered
    stop: threading.Event = field(default_factory=threading.Event)
    identities: list[tuple[str, str, str]] = field(default_factory=list)  # (path, serial, mac) of agent calls
    unidentified: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _agent_path(self) -> str | None:
        """The path of an agent call that carries the board's identity (recorded); None (and a 403 sent) for one
        without it. Other paths come back as they are."""
        parts = urlsplit(self.path)
        if not parts.path.startswith("/v1/install/"):
            return self.path
        query = parse_qs(parts.query)
        serial, mac = query.get("serial", [""])[0], query.get("mac", [""])[0]
        if not serial or not mac:
            self.server.state.unidentified.append(self.path)
            self._send(403, b'{"detail": "the agent sent no serial or MAC"}')
            return None
        self.server.state.identities.append((parts.path, serial, mac))
        return parts.path
    def do_HEAD(self) -> None:  # /v1/health: what the agent reads the Date header of (clock before TLS)
        st = self.server.state
        st.requests.append(f"HEAD {self.path}")
        if st.on_request:
            st.on_request(f"HEAD {self.path}")
        self.send_response(200 if self.path == "/v1/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        st = self.server.state
        st.requests.append(f"GET {self.path}")
        if st.on_request:
            st.on_request(f"GET {self.path}")
        path = self._agent_path()
        if path is None:
            return
        if path == "/v1/install/tok/netplan":
            self._send(200, st.netplan.encode(), "text/yaml")
        elif path.startswith("/files/") and path[7:] in st.files:
            self._serve_file(st.files[path[7:]], st.faults.get(path[7:], FileFault()))
        else:
            self._send(404, b'{"detail": "not found"}')

    def _serve_file(self, path: Path, fault: FileFault) -> None:
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        sent = 0
        t0 = time.monotonic()
        with path.open("rb") as f:
            while chunk := f.read(256 * 1024):
                if fault.corrupt_at is not None and sent <= fault.corrupt_at < sent + len(chunk):
                    i = fault.corrupt_at - sent
                    chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
                if fault.truncate_at is not None and sent + len(chunk) > fault.truncate_at:
                    chunk = chunk[: fault.truncate_at - sent]
                if fault.stall_at is not None and sent + len(chunk) > fault.stall_at:
                    chunk = chunk[: fault.stall_at - sent]
                    try:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    self.server.state.stop.wait(120)  # the connection stays open, nothing more comes
                    self.close_connection = True
                    return
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                sent += len(chunk)
                if fault.truncate_at is not None and sent >= fault.truncate_at:
                    self.close_connection = True
                    return
                if fault.rate_bps:
                    ahead = sent / fault.rate_bps - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)

    def do_POST(self) -> None:
        st = self.server.state
        st.requests.append(f"POST {self.path}")
        if st.on_request:
            st.on_request(f"POST {self.path}")
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        path = self._agent_path()
        if path is None:
            return
        if path == "/v1/install/tok":
            scenario = dict(st.scenario)
            if scenario.get("serial") is None:  # first contact: the serial the board reports
                scenario["serial"] = st.identities[-1][1]
            self._send(200, json.dumps(scenario).encode())
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send(422, b'{"detail": "bad json"}')
            return
        schemas: dict[str, type[BaseModel]] = {"/v1/install/tok/progress": ProgressIn,
                                               "/v1/install/tok/result": ResultIn}
        schema = schemas.get(path)
        if schema is not None:
            try:
                schema.model_validate(body)
            except ValidationError as exc:
                st.rejected.append((path, body))
                self._send(422, json.dumps({"detail": str(exc)}).encode())
                return
        if path == "/v1/install/tok/progress":
            if st.progress_delay and body.get("phase") == "writing":
                time.sleep(st.progress_delay)
            st.progress.append(body)
            st.events.append(f"progress {body.get('phase')}")
        elif path == "/v1/install/tok/result":
            st.results.append(body)
            st.events.append(f"result {body.get('status')}")
        elif path == "/v1/install/tok/booted":
            st.booted += 1
        else:
            self._send(404, b'{"detail": "not found"}')
            return
        self._send(200, b'{"ok": true}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: StubState


class BackendStub:
    """Run with ``with BackendStub() as b: ...``; ``b.url`` is the install URL (option 224). With ``tls`` (a
    server context) it speaks https."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.state = StubState()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._server.state = self.state
        self.port = self._server.server_address[1]
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.url = f"{self.base}/v1/install/tok"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> BackendStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.stop.set()
        self._server.shutdown()
        self._server.server_close()

    def serve(self, name: str, path: Path, fault: FileFault | None = None) -> str:
        self.state.files[name] = path
        if fault:
            self.state.faults[name] = fault
        return f"{self.base}/files/{name}"

    def set_scenario(self, *, image_url: str, sha256: str, size: int, compression: str,
                     bmap_url: str | None = None, serial: str | None = "6e87a417",
                     mac: str = "dc:a6:32:00:00:01", hostname: str = "pi-01") -> None:
        b = self.url
        self.state.scenario = {
            "machine": "pi-01", "attempt": 1, "serial": serial, "mac": mac,
            "image": {"url": image_url, "sha256": sha256, "size": size, "compression": compression,
                      "bmap_url": bmap_url},
            "hostname": hostname,
            "ssh_authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMalina test@malina"],
            "network": {"interface": "eth0", "address": "10.90.1.50/24", "gateway": "10.90.1.1",
                        "dns": ["10.89.0.3"]},
            "netplan_url": f"{b}/netplan", "progress_url": f"{b}/progress", "result_url": f"{b}/result",
            "booted_url": f"{b}/booted",
        }
        self.state.netplan = (
            "network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [10.90.1.50/24]\n"
            "      routes: [{to: default, via: 10.90.1.1}]\n      nameservers: {addresses: [10.89.0.3]}\n"
        )
