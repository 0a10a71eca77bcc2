"""The board controller's power API (harness.sim.board.power_api) on 127.0.0.1: the contract SimPower and the
board's shims rely on (paths, methods, JSON bodies, status codes), first against a recording stand-in board,
then the controller process itself (it answers, and SIGTERM ends it cleanly: it owns the signal, not uvicorn)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.drivers.power import SimPower
from harness.sim.board.config import BoardConfig
from harness.sim.board.power_api import api_server
from testkit.ports import free_port


class FakeBoard:
    def __init__(self) -> None:
        self.on = False
        self.calls: list[tuple[str, float]] = []
        self.cycled = threading.Event()

    async def power_on(self) -> None:
        self.calls.append(("on", time.monotonic()))
        self.on = True

    async def power_off(self) -> None:
        self.calls.append(("off", time.monotonic()))
        self.on = False

    async def power_cycle(self) -> None:
        self.calls.append(("cycle", time.monotonic()))
        self.on = True
        self.cycled.set()

    def status(self) -> dict[str, Any]:
        return {"board": "pi-01", "state": "on" if self.on else "off", "boots": 0, "since": 0.0, "pid": None}


@pytest.fixture
def api() -> Iterator[tuple[str, FakeBoard]]:
    board = FakeBoard()
    server, sock = api_server(board, 0, host="127.0.0.1")
    port = sock.getsockname()[1]
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", board
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive()


def test_sim_power_drives_the_board(api: tuple[str, FakeBoard]) -> None:
    url, board = api
    power = SimPower(url, timeout_s=5)
    assert power.state() == "off"
    power.on()
    assert power.state() == "on" and board.on
    power.off()
    assert power.state() == "off" and [c for c, _ in board.calls] == ["on", "off"]


def test_status_and_action_bodies(api: tuple[str, FakeBoard]) -> None:
    url, _ = api
    r = httpx.get(f"{url}/power?verbose=1")  # a query string is ignored
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"board": "pi-01", "state": "off", "boots": 0, "since": 0.0, "pid": None}
    r = httpx.post(f"{url}/power/on")
    assert r.status_code == 200 and r.json()["state"] == "on"


def test_cycle_answers_before_it_starts(api: tuple[str, FakeBoard]) -> None:
    url, board = api
    sent = time.monotonic()
    r = httpx.post(f"{url}/power/cycle")
    answered = time.monotonic()
    assert r.status_code == 202 and r.json()["action"] == "cycle" and r.json()["state"] == "off"
    assert board.cycled.wait(5)
    assert [c for c, _ in board.calls] == ["cycle"]
    assert board.calls[0][1] >= sent + 0.04 and answered - sent < 5


@pytest.mark.parametrize(("method", "path", "code", "error"), [
    ("POST", "/power", 405, "use GET"),
    ("GET", "/power/on", 405, "use POST"),
    ("DELETE", "/power/cycle", 405, "use POST"),
    ("GET", "/", 404, "no such resource /"),
    ("POST", "/power/reset", 404, "no such resource /power/reset"),
    ("POST", "/power/on/", 404, "no such resource /power/on/"),  # no redirect a `curl -f` would take as done
])
def test_errors_are_json(api: tuple[str, FakeBoard], method: str, path: str, code: int, error: str) -> None:
    url, board = api
    r = httpx.request(method, f"{url}{path}")
    assert r.status_code == code and r.json()["error"] == error, r.text
    if code == 404:
        assert r.json()["resources"] == ["GET /power", "POST /power/on|off|cycle"]
    else:
        assert r.headers["allow"] == error.removeprefix("use ")
    assert board.calls == []


def test_a_taken_port_is_named() -> None:
    _, sock = api_server(FakeBoard(), 0, host="127.0.0.1")
    port = sock.getsockname()[1]
    try:
        with pytest.raises(OSError, match=f"power API: cannot listen on 127.0.0.1:{port}"):
            api_server(FakeBoard(), port, host="127.0.0.1")
    finally:
        sock.close()


@pytest.mark.timeout(60)
def test_controller_process_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The real controller on the host: a made-up access interface (the link steps fail and are reported),
    every path it would empty or write under tmp_path; it is never powered on."""
    power_port, console_port = free_port(), free_port()
    cfg = BoardConfig(name="pi-t", mac="dc:a6:32:00:00:09", serial="00000009", iface="malina-none0",
                      power_port=power_port, console_port=console_port, uart_log=str(tmp_path / "uart.log"),
                      event_log=str(tmp_path / "events.jsonl"), state_dir=str(tmp_path / "state"),
                      volatile_dirs=(str(tmp_path / "state"),), eeprom_file=str(tmp_path / "eeprom.conf"))
    (tmp_path / "board.json").write_text(cfg.to_json())
    proc = subprocess.Popen([sys.executable, "-m", "harness.sim.board", "--config", str(tmp_path / "board.json")],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = []
        while not lines or "power API :" not in lines[-1]:
            line = proc.stderr.readline()
            assert line, f"the controller ended: {''.join(lines)}"
            lines.append(line)
        assert SimPower(f"http://127.0.0.1:{power_port}", timeout_s=5).state() == "off"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
