"""Helpers shared by the backend tests: a fake clock, a stub kea-ctrl-agent, machine definitions, ``malina backend
serve`` as a process on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from testkit.backend_process import HOOK_AUTH as HOOK_AUTH  # re-exported for the tests
from testkit.backend_process import HOOK_SECRET, backend_process

REPO = Path(__file__).resolve().parents[2]

READ = "read-token-123-0123456789abcdef0123"
WRITE = "write-token-456-0123456789abcdef0123"
SHA = "ab" * 32


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class KeaStub:
    """A kea-ctrl-agent stand-in on 127.0.0.1 that records every command."""

    def __init__(self, answer: Any = None, status: int = 200) -> None:
        self.commands: list[dict[str, Any]] = []
        self.answer = answer if answer is not None else [{"result": 0, "text": "1 cache entries flushed"}]
        self.status = status
        self.event = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.commands.append(json.loads(body))
                out = json.dumps(stub.answer).encode()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                stub.event.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while len(self.commands) < count and time.monotonic() < end:
            time.sleep(0.01)
        return self.commands

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_hook_secret(directory: Path) -> str:
    """A hook secret file (``HOOK_SECRET``) in ``directory``; its path, for ``Settings.hook_secret_file``."""
    path = directory / "hook.secret"
    path.write_text(HOOK_SECRET + "\n")
    return str(path)


def auth(token: str = WRITE) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def machine(name: str = "pi-01", n: int = 1, **over: Any) -> dict[str, Any]:
    """A machine for the admin API, on port ``Gi1/0/<n>`` of switch ``tor-a-01``."""
    body: dict[str, Any] = {
        "name": name,
        "sub82_1": f"Gi1/0/{n}".encode().hex(),
        "sub82_2": b"tor-a-01".hex(),
        "mac": f"dc:a6:32:00:00:{n:02x}",
        "serial": f"{0x6E87A400 + n:08x}",
        "install": {
            "hostname": name,
            "image": {"url": "http://10.89.0.5:8081/ubuntu.img.xz", "sha256": SHA, "size": 4096},
            "ssh_authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5 ops@malina"],
            "network": {"address": f"10.90.{n}.50/24", "gateway": f"10.90.{n}.1", "dns": ["10.89.0.3"]},
        },
    }
    body.update(over)
    return body





def board_identity(n: int = 1) -> dict[str, str]:
    """What the agent of the board of ``machine(n=n)`` sends with every call."""
    return {"serial": f"{0x6E87A400 + n:08x}", "mac": f"dc:a6:32:00:00:{n:02x}"}


def as_board(n: int) -> Callable[[httpx.Request], None]:
    """An httpx request hook: agent calls without a ``serial`` get the identity of board ``n``."""
    def hook(request: httpx.Request) -> None:
        if request.url.path.startswith("/v1/install/") and "serial" not in request.url.params:
            request.url = request.url.copy_merge_params(board_identity(n))
    return hook


def board_client(app: Any, n: int = 1) -> TestClient:
    """A test client for ``app`` as the board of ``machine(n=n)`` calls it: from its port's subnet, its agent
    calls carrying its identity (admin and hook calls pass as they are)."""
    client = TestClient(app, client=(f"10.90.{n}.100", 50000))
    client.event_hooks["request"].append(as_board(n))
    return client


def port_query(n: int = 1, **extra: str) -> dict[str, str]:
    q = {"sub82_1": f"Gi1/0/{n}".encode().hex(), "sub82_2": b"tor-a-01".hex()}
    q.update(extra)
    return q


def guid_for(mac: str, serial: str, fourcc: bytes = b"RPi4", serial_reversed: bool = False) -> str:
    mac_b = bytes.fromhex(mac.replace(":", ""))
    ser = bytes.fromhex(serial)
    if serial_reversed:
        ser = ser[::-1]
    return (b"\x00" + fourcc + bytes.fromhex("c0311100") + mac_b[-4:] + ser).hex()


@contextmanager
def serve(db_url: str, log_path: Path, **env: str) -> Iterator[str]:
    """``malina backend serve`` as its own process on a free loopback port (tokens ``READ``/``WRITE``, ``env``
    added to the environment); yields its URL once healthy, terminates it afterwards."""
    with backend_process(db_url, log_path, write_token=WRITE, read_token=READ, env=env) as running:
        yield running.url
