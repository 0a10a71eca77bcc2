"""The TFTP gate (issue 19): ``harness.sim.tftpgate`` against a fake backend, then the real TFTP server process
against the real backend process on 127.0.0.1 — gate open (install, or boot-local by opt66-zero), closed
(boot-local by a tftp-deny method), and backend down (closed)."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.client import HttpAdmin
from harness.sim.tftpgate import MAX_CACHE_S, BackendGate, Verdict, board_of
from testkit.ports import free_port

REPO = Path(__file__).resolve().parents[2]
READ, WRITE = "read-token-123-0123456789abcdef0123", "write-token-456-0123456789abcdef0123"
GATE_TOKEN = "gate-token-789-0123456789abcdef01234"
SERIAL = "6e87a417"


# -- the gate alone, against a fake backend ------------------------------------------------------------------

class FakeBackend:
    def __init__(self) -> None:
        self.open = True
        self.status = 200
        self.down = False
        self.asks: list[str] = []
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def fetch(self, url: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
        self.asks.append(url)
        assert headers["Authorization"] == f"Bearer {GATE_TOKEN}"
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        return self.status, json.dumps({"open": self.open, "reason": "install" if self.open else "boot local"}).encode()


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend()


def make_gate(fake: FakeBackend, cache_s: float = 1.0) -> BackendGate:
    return BackendGate("http://10.89.0.3:8080/", GATE_TOKEN, cache_s=cache_s, clock=fake.clock, fetch=fake.fetch)


def test_board_of_paths() -> None:
    assert board_of("6e87a417/start4.elf") == ("serial", SERIAL)
    assert board_of("6E87A417//config.txt") == ("serial", SERIAL)  # newer builds ask with a double slash [E687]
    assert board_of("/dc-a6-32-01-36-c2/start4.elf") == ("mac", "dc:a6:32:01:36:c2")
    assert board_of("config.txt") is None and board_of("6e87a417") is None
    assert board_of(".trees/6e87a417-1/start4.elf") is None


def test_open_closed_and_cached_for_at_most_a_second(fake: FakeBackend) -> None:
    gate = make_gate(fake, cache_s=30.0)
    assert gate.cache_s == MAX_CACHE_S
    assert gate.check(f"{SERIAL}/start4.elf", "10.90.1.100:40001") == Verdict(True, "install", f"serial {SERIAL}")
    assert fake.asks == [f"http://10.89.0.3:8080/v1/tftp/gate?serial={SERIAL}&client=10.90.1.100"]
    fake.open = False
    assert gate.check(f"{SERIAL}/config.txt", "10.90.1.100:40002").open  # within the second: the cached answer
    fake.now += 1.01
    verdict = gate.check(f"{SERIAL}/config.txt", "10.90.1.100:40003")
    assert verdict == Verdict(False, "boot local", f"serial {SERIAL}")
    assert len(fake.asks) == 2


def test_root_paths_follow_the_board_last_seen_from_the_address(fake: FakeBackend) -> None:
    gate = make_gate(fake)
    refused = gate.check("config.txt", "10.90.1.100:40000")
    assert not refused.open and "no board seen" in refused.reason and fake.asks == []
    assert gate.check(f"{SERIAL}/start4.elf", "10.90.1.100:40001").open
    assert gate.check("start4.elf", "10.90.1.100:40002").open  # the prefix was cleared: the same board
    fake.open = False
    fake.now += 2
    assert not gate.check("start4.elf", "10.90.1.100:40003").open
    assert not gate.check("config.txt", "10.90.2.100:40003").open  # another address: never seen


@pytest.mark.parametrize(("how", "expected"), [
    ("down", "backend unreachable"), ("401", "backend answered HTTP 401"), ("garbage", "not a gate verdict")])
def test_anything_but_a_verdict_closes_the_gate(fake: FakeBackend, how: str, expected: str) -> None:
    gate = make_gate(fake)
    if how == "down":
        fake.down = True
    elif how == "401":
        fake.status = 401
    else:
        gate.fetch = lambda url, headers, timeout: (200, b"<html>proxy error</html>")
    verdict = gate.check(f"{SERIAL}/start4.elf", "10.90.1.100:40001")
    assert not verdict.open and expected in verdict.reason


def test_the_gate_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        BackendGate("10.89.0.3:8080", GATE_TOKEN)


# -- the real TFTP server and the real backend -----------------------------------------------------------------

@dataclass
class Rig:
    backend_url: str
    backend: subprocess.Popen[bytes]
    tftp_port: int
    log: Path
    admin: HttpAdmin

    def events(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def _wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).json()["ok"]:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "the backend did not start"
        time.sleep(0.2)


def _machine() -> dict[str, Any]:
    return {"name": "pi-01", "sub82_1": b"Gi1/0/1".hex(), "sub82_2": b"tor-a-01".hex(), "mac": "dc:a6:32:00:00:01",
            "serial": SERIAL, "install": {
                "hostname": "pi-01", "image": {"url": "http://10.89.0.5:8081/u.img.xz", "sha256": "ab" * 32,
                                               "size": 4096},
                "network": {"address": "10.90.1.50/24", "gateway": "10.90.1.1"}}}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("gate")
    root = tmp / "tftp"
    (root / SERIAL).mkdir(parents=True)
    (root / SERIAL / "start4.elf").write_bytes(b"firmware" * 300)
    (root / "config.txt").write_bytes(b"[all]\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MALINA_DB_URL": f"sqlite:///{tmp / 'malina.db'}",
           "MALINA_PUBLIC_URL": f"http://127.0.0.1:{port}", "MALINA_TFTP_SERVER": "127.0.0.1",
           "MALINA_ADMIN_READ_TOKEN": READ, "MALINA_ADMIN_WRITE_TOKEN": WRITE, "MALINA_TFTP_GATE_TOKEN": GATE_TOKEN}
    backend = subprocess.Popen([sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port",
                                str(port)], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tftp_port = free_port(socket.SOCK_DGRAM)
    log = tmp / "tftp.jsonl"
    tftp = subprocess.Popen([sys.executable, "-m", "harness.sim.tftpserver", "--root", str(root), "--log", str(log),
                             "--port", str(tftp_port), "--host", "127.0.0.1", "--gate-url", url],
                            env={**os.environ, "MALINA_TFTP_GATE_TOKEN": GATE_TOKEN}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    admin = HttpAdmin(url, WRITE, read_token=READ)
    rig = Rig(url, backend, tftp_port, log, admin)
    try:
        _wait_http(url, backend)
        deadline = time.monotonic() + 10
        while not any(e["event"] == "ready" for e in rig.events()):
            assert tftp.poll() is None and time.monotonic() < deadline, "the TFTP server did not start"
            time.sleep(0.05)
        time.sleep(0.2)  # the socket is bound right after the ready line
        admin.add(_machine())
        yield rig
    finally:
        admin.close()
        for proc in (tftp, backend):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)


def rrq(rig: Rig, path: str, source: str = "127.0.0.1") -> tuple[int, int, bytes]:
    """One RRQ as the bootloader sends it: (opcode, code or block, rest) of the first answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.bind((source, 0))
        s.sendto(struct.pack("!H", 1) + path.encode() + b"\0octet\0tsize\0" + b"0\0blksize\0" + b"1024\0",
                 ("127.0.0.1", rig.tftp_port))
        reply, peer = s.recvfrom(4096)
        opcode, second = struct.unpack("!HH", reply[:4])
        if opcode != 5:
            s.sendto(struct.pack("!HH", 5, 0) + b"Early terminate\0", peer)  # a probe, as the bootloader does
        return opcode, second, reply[4:]


def not_found(answer: tuple[int, int, bytes]) -> bool:
    return answer[:2] == (5, 1) and answer[2].rstrip(b"\0") == b"File not found"


def gated(rig: Rig, path: str, at_least: int = 1) -> list[dict[str, Any]]:
    """The server's log lines of gated requests for ``path`` (waiting a little: a session is logged as it ends)."""
    deadline = time.monotonic() + 5
    while True:
        found = [e for e in rig.events() if e["event"] == "error" and e.get("path") == path and "gate" in e]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def settle() -> None:
    time.sleep(MAX_CACHE_S + 0.1)  # a cached answer of the gate lives at most this long


def test_install_opens_the_gate(rig: Rig) -> None:
    rig.admin.reinstall("pi-01")
    settle()
    assert rrq(rig, f"{SERIAL}/start4.elf")[0] == 6  # OACK: served
    assert rrq(rig, "config.txt")[0] == 6  # the root, after the board's own prefix from this address
    assert not_found(rrq(rig, "config.txt", source="127.0.0.2"))  # an address that never named a board


@pytest.mark.parametrize(("method", "open_"), [("opt66-zero+tftp-deny", False), ("tftp-deny", False),
                                               ("opt66-zero", True)])
def test_boot_local_by_method(rig: Rig, method: str, open_: bool) -> None:
    rig.admin.set_boot_local_method("pi-01", method)
    rig.admin.set_local("pi-01")
    settle()
    before = len(gated(rig, f"{SERIAL}/start4.elf", 0))
    first = rrq(rig, f"{SERIAL}/start4.elf")
    root = rrq(rig, "config.txt")
    if open_:
        assert first[0] == 6 and root[0] == 6
        return
    assert not_found(first) and not_found(root)
    logged = gated(rig, f"{SERIAL}/start4.elf", before + 1)[-1]
    assert (logged["gate"], logged["outcome"]) == (f"boot local ({method})", "not_found")
    rig.admin.reinstall("pi-01")
    settle()
    assert rrq(rig, f"{SERIAL}/start4.elf")[0] == 6
    rig.admin.set_boot_local_method("pi-01", None)


def test_backend_down_closes_the_gate(rig: Rig) -> None:
    rig.admin.reinstall("pi-01")
    settle()
    assert rrq(rig, f"{SERIAL}/start4.elf")[0] == 6
    rig.backend.terminate()
    rig.backend.wait(timeout=10)
    settle()
    before = len(gated(rig, f"{SERIAL}/start4.elf", 0))
    assert not_found(rrq(rig, f"{SERIAL}/start4.elf"))
    assert "backend unreachable" in gated(rig, f"{SERIAL}/start4.elf", before + 1)[-1]["gate"]


def test_the_refresher_keeps_an_active_boards_verdict_fresh_without_the_caller_waiting() -> None:
    """With ``refresh`` (as the server runs it) only a board's first ask waits for the backend; later asks find a
    verdict at most ``cache_s`` old, asked by the refresher thread (issue 18.5: the server's one transfer loop)."""
    import threading

    from harness.sim.tftpgate import BackendGate

    callers: list[str] = []
    answers = iter([True] * 3 + [False] * 1000)

    def fetch(url: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
        callers.append(threading.current_thread().name)
        return 200, json.dumps({"open": next(answers), "reason": "r"}).encode()

    gate = BackendGate("http://127.0.0.1:9", "token-123", cache_s=0.2, fetch=fetch, refresh=True)
    assert gate.check("6e87a417/start4.elf", "10.90.1.100:1234").open
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and gate.check("6e87a417/kernel8.img", "10.90.1.100:1235").open:
        time.sleep(0.05)
    assert not gate.check("6e87a417/kernel8.img", "10.90.1.100:1235").open, "the refreshed verdict never arrived"
    own = [name for name in callers if name == threading.current_thread().name]
    assert len(own) == 1 and len(callers) > 3, callers


def test_a_refresh_the_backend_leaves_unanswered_keeps_the_valid_verdict_until_it_expires() -> None:
    """A refresh that times out (a backend stalled under 64 boards) must not close a board's gate at once: the
    last answer holds until its own expiry, then the caller's ask decides, closed while the backend is down."""
    from harness.sim.tftpgate import BackendGate

    now = [100.0]
    down = [False]

    def fetch(url: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
        if down[0]:
            raise TimeoutError("timed out")
        return 200, json.dumps({"open": True, "reason": "install"}).encode()

    gate = BackendGate("http://127.0.0.1:9", "token-123", cache_s=1.0, fetch=fetch, clock=lambda: now[0])
    assert gate.check(f"{SERIAL}/start4.elf", "10.90.1.100:1").open
    down[0] = True
    now[0] = 100.5
    gate._refresh(((("serial", SERIAL)), "10.90.1.100"))
    assert gate.check(f"{SERIAL}/kernel8.img", "10.90.1.100:2").open, "an unanswered refresh closed a valid verdict"
    now[0] = 101.2  # the answer's second is over: the caller asks, and the backend still does not answer
    closed = gate.check(f"{SERIAL}/kernel8.img", "10.90.1.100:3")
    assert not closed.open and closed.unanswered and "unreachable" in closed.reason


def test_a_refresh_the_backend_answers_closed_replaces_the_verdict_at_once() -> None:
    from harness.sim.tftpgate import BackendGate

    answers = iter([True, False])

    def fetch(url: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
        return 200, json.dumps({"open": next(answers), "reason": "r"}).encode()

    gate = BackendGate("http://127.0.0.1:9", "token-123", cache_s=1.0, fetch=fetch, clock=lambda: 100.0)
    assert gate.check(f"{SERIAL}/start4.elf", "10.90.1.100:1").open
    gate._refresh((("serial", SERIAL), "10.90.1.100"))
    assert not gate.check(f"{SERIAL}/kernel8.img", "10.90.1.100:2").open


def test_the_refresher_keeps_64_boards_fresh_when_each_answer_takes_50_ms() -> None:
    """64 boards asked one after the other at 50 ms each (3.2 s) outran the 1 s cache, and every expired verdict was
    asked again inside the TFTP server's transfer loop; the refresher asks in parallel."""
    import threading

    from harness.sim.tftpgate import BackendGate

    callers: list[str] = []
    lock = threading.Lock()

    def fetch(url: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
        with lock:
            callers.append(threading.current_thread().name)
        time.sleep(0.05)
        return 200, json.dumps({"open": True, "reason": "install"}).encode()

    gate = BackendGate("http://127.0.0.1:9", "token-123", cache_s=1.0, fetch=fetch, refresh=True)
    serials = [f"5a0000{n:02x}" for n in range(64)]
    for n, serial in enumerate(serials):
        assert gate.check(f"{serial}/start4.elf", f"10.90.{n}.100:1").open
    mine = threading.current_thread().name
    time.sleep(2.5)
    with lock:
        callers.clear()
    for n, serial in enumerate(serials):
        assert gate.check(f"{serial}/kernel8.img", f"10.90.{n}.100:2").open
    with lock:
        assert mine not in callers, "a verdict expired: the caller had to ask the backend itself"
