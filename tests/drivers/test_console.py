"""SerialConsole over pyserial's socket:// against a local ser2net-like TCP server."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from harness.drivers.base import ConsoleDeath, ConsoleGone, ConsoleTimeout
from harness.drivers.console import FIRMWARE_NOT_FOUND, SerialConsole


class Ser2net:
    """Accepts console clients on 127.0.0.1; ``say`` sends to all; ``drop`` closes them (and the listener)."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.create_server(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.clients: list[socket.socket] = []
        self.received = b""
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(c)
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c: socket.socket) -> None:
        while True:
            try:
                data = c.recv(4096)
            except OSError:
                return
            if not data:
                return
            self.received += data

    def wait_client(self) -> None:
        deadline = time.monotonic() + 5
        while not self.clients and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.clients

    def say(self, data: bytes) -> None:
        for c in self.clients:
            c.sendall(data)

    def drop(self) -> None:
        for c in self.clients:
            try:
                c.shutdown(socket.SHUT_RDWR)  # FIN now, even while our reader thread sits in recv()
            except OSError:
                pass
            c.close()
        self.clients.clear()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() so the port is really free
        except OSError:
            pass
        self.sock.close()


def test_expect_mark_slice_and_log_file(tmp_path: Path) -> None:
    srv = Ser2net()
    log = tmp_path / "console.log"
    with SerialConsole(f"socket://127.0.0.1:{srv.port}", log_path=log) as con:
        srv.wait_client()
        srv.say(b"  1.23 RPi: BOOTLOADER release VERSION:abc\nBoot mode: NETWORK (02) order f1\n")
        m = con.expect(r"Boot mode: (\S+)", 5)
        assert m.match.group(1) == b"NETWORK" and b"BOOTLOADER" in m.before
        start = con.mark()
        srv.say(b"NET 10.0.0.2 255.255.255.0 gw 10.0.0.1 tftp 10.0.0.5\npi-01 login: ")
        m = con.expect([r"tftp (\S+)", r"nothing"], 5)
        assert m.match.group(1) == b"10.0.0.5"
        assert con.expect(r"(\S+) login: ", 5).match.group(1) == b"pi-01"
        assert con.slice(start).startswith(b"NET 10.0.0.2")
        con.send(b"root\n")
        deadline = time.monotonic() + 5
        while srv.received != b"root\n" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.received == b"root\n"
    assert log.read_bytes() == con.log() and b"login" in log.read_bytes()


def test_timeout_quotes_the_last_lines() -> None:
    srv = Ser2net()
    with SerialConsole(f"socket://127.0.0.1:{srv.port}") as con:
        srv.wait_client()
        srv.say(b"DHCP src: 02:42:0a:59:00:02 10.89.0.2\n")
        t0 = time.monotonic()
        with pytest.raises(ConsoleTimeout, match="DHCP src") as info:
            con.expect("never printed", 0.5)
        assert 0.4 < time.monotonic() - t0 < 3
        assert info.value.kind == "infrastructure"


def test_death_strings_default_and_per_call() -> None:
    srv = Ser2net()
    with SerialConsole(f"socket://127.0.0.1:{srv.port}") as con:
        srv.wait_client()
        srv.say(b"Firmware not found\nBoot mode: SD (01) order f\n")
        assert con.expect("Boot mode: SD", 5).match  # not a death by default: every failed netboot prints it
        srv.say(b"[    2.0] Kernel panic - not syncing: VFS: Unable to mount root fs\nlogin: ")
        with pytest.raises(ConsoleDeath, match="Kernel panic") as info:
            con.expect("login: ", 5)
        assert info.value.kind == "product"
        mark = con.mark()
        srv.say(b"Firmware not found\nStarting start4.elf\n")
        with pytest.raises(ConsoleDeath, match="Firmware not found"):
            con.expect("Starting start4.elf", 5, since=mark, deaths=[FIRMWARE_NOT_FOUND])
        assert con.expect("Starting start4.elf", 5, since=mark, deaths=()).match


def test_reconnects_when_the_line_comes_back_then_gives_up() -> None:
    srv = Ser2net()
    port = srv.port
    with SerialConsole(f"socket://127.0.0.1:{port}", reconnect_s=5) as con:
        srv.wait_client()
        srv.say(b"first boot\n")
        con.expect("first boot", 5)
        srv.drop()
        time.sleep(0.5)
        srv2 = Ser2net(port)
        srv2.wait_client()
        srv2.say(b"second boot\n")
        assert con.expect("second boot", 5).match
        srv2.drop()
        with pytest.raises(ConsoleGone, match="closed"):
            con.expect("third boot", 20)


def test_open_fails_clearly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConsoleGone, match="cannot open"):
        SerialConsole(f"socket://127.0.0.1:{port}").open()
