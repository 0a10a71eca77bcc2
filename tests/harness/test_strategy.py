"""The boot state machine against a fake console and power (unit level: the neighbours are fakes; the
scenarios run it against real boards): stage order and timing, failure classification, quarantine hook,
timestamped (2024) console lines."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.drivers.base import (
    CommandFailed,
    CommandResult,
    ConsoleDeath,
    ConsoleMatch,
    ConsoleTimeout,
    InfraFailure,
    ProductFailure,
)
from harness.lab.model import load_lab
from harness.session import Target
from harness.strategy.boot import STAGES, BootStrategy

REPO = Path(__file__).resolve().parents[2]
SERIAL = "6e87a417"


def netboot_install(ts: bool) -> list[str]:
    p = "  1.23 " if ts else ""
    return [
        f"{p}RPi: BOOTLOADER release VERSION:8ba17717 DATE: 2022/09/08 TIME: 10:18:10",
        f"{p}Boot mode: NETWORK (02) order f1",
        f"{p}NET 10.90.1.100 255.255.255.0 gw 10.90.1.1 tftp 10.89.0.4",
        f"{p}TFTP_GET: 02:42:0a:59:00:04 10.89.0.4 {SERIAL}/start4.elf",
        f"{p}Starting start4.elf @ 0xfec00200 partition 0",
        "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x410fd083]",
        "malina: install URL http://10.89.0.3:8080/v1/install/tok",
        "malina: image verified: 67108864 bytes, sha256 ab, 1.2 s",
        "malina: INSTALL OK in 3 s",
        f"{p}RPi: BOOTLOADER release VERSION:8ba17717 DATE: 2022/09/08 TIME: 10:18:10",
        f"{p}Boot mode: NETWORK (02) order f1",
        f"{p}NET 10.90.1.100 255.255.255.0 gw 10.90.1.1 tftp 0.0.0.0",
        f"{p}Firmware not found",
        f"{p}Boot mode: SD (01) order f",
        f"{p}Starting start4.elf @ 0xfec00200 partition 1",
        "",
        "Ubuntu 24.04 LTS pi-01 ttyS0",
        "",
        "pi-01 login: ",
    ]


class FakeConsole:
    url = "fake://"

    def __init__(self) -> None:
        self.buf = b""
        self.pos = 0
        self.lock = threading.Lock()

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def feed(self, lines: list[str], delay: float = 0.005) -> None:
        def run() -> None:
            for line in lines:
                time.sleep(delay)
                with self.lock:
                    self.buf += line.encode() + (b"" if line.endswith(": ") else b"\n")

        threading.Thread(target=run, daemon=True).start()

    def expect(self, patterns: str | Sequence[str], timeout: float, *, since: int | None = None,
               deaths: Sequence[str] | None = None) -> ConsoleMatch:
        pats = [patterns] if isinstance(patterns, str) else list(patterns)
        start = self.pos if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                data = self.buf
            for d in deaths or ():
                dm = re.search(d.encode(), data[start:])
                if dm:
                    raise ConsoleDeath(f"death string: {dm.group(0)!r}")
            hits = [m for m in (re.search(p.encode(), data[start:], re.M) for p in pats) if m]
            if hits:
                m = min(hits, key=lambda x: x.start())
                self.pos = start + m.end()
                return ConsoleMatch(m.re.pattern.decode(), m, self.pos, data[start : start + m.start()])
            if time.monotonic() > deadline:
                raise ConsoleTimeout(f"timeout waiting for {pats}")
            time.sleep(0.005)

    def mark(self) -> int:
        with self.lock:
            return len(self.buf)

    def slice(self, start: int, end: int | None = None) -> bytes:
        return self.buf[start:end]

    def log(self) -> bytes:
        return self.buf

    def send(self, data: bytes) -> None:
        pass


class FakePower:
    def __init__(self, console: FakeConsole, script: list[str], *, broken: bool = False) -> None:
        self.console, self.script, self.broken, self.st = console, script, broken, "off"

    def on(self) -> None:
        if not self.broken:
            self.console.feed(self.script)
        self.st = "on"

    def off(self) -> None:
        self.st = "off"

    def cycle(self) -> None:
        self.off()
        self.on()

    def state(self) -> str:
        return self.st


class FakeSsh:
    def __init__(self, host: str) -> None:
        self.host = host

    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        return CommandResult(command, 0, self.host + "\n", "")

    def run_checked(self, command: str, timeout: float = 30.0) -> str:
        result = self.run(command, timeout)
        if not result.ok:
            raise CommandFailed(result, host=self.host)
        return result.stdout

    def close(self) -> None:
        pass


def target(script: list[str], *, broken: bool = False) -> tuple[Target, FakeConsole]:
    lab = load_lab(REPO / "lab.yaml")
    console = FakeConsole()
    t = Target(lab.boards[0], lab, console, FakePower(console, script, broken=broken), Path("/nonexistent"))  # type: ignore[arg-type]
    t.ssh = lambda timeout=60.0: FakeSsh("pi-01")  # type: ignore[method-assign,assignment,misc]
    return t, console


@pytest.mark.parametrize("ts", [False, True], ids=["plain", "timestamped"])
def test_install_walks_every_stage_in_order(ts: bool) -> None:
    t, _ = target(netboot_install(ts))
    s = BootStrategy(t)
    s.install(tftp_server="10.89.0.4")
    names = [st.name for st in s.report.stages]
    assert names == [x for x in STAGES if x != "sd-boot" and x != "ssh-ready"] + ["dhcp", "sd-boot", "ssh-ready"]
    assert all(st.ok and st.seconds >= 0 for st in s.report.stages)
    assert s.report.facts["install_url"] == "http://10.89.0.3:8080/v1/install/tok"
    assert s.report.facts["bytes_written"] == 67108864
    assert s.report.facts["hostname"] == "pi-01" and s.report.facts["ssh_hostname"] == "pi-01"
    assert "writing" in s.report.table() and "total" in s.report.table()
    kinds = [e["event"] for e in s.console_events()]
    assert kinds.count("banner") == 2 and "login_prompt" in kinds


def test_wrong_tftp_server_is_a_product_failure() -> None:
    t, _ = target(netboot_install(False))
    s = BootStrategy(t, timeouts={"dhcp": 1.0})
    with pytest.raises(ProductFailure, match="option 66"):
        s.install(tftp_server="10.89.0.99")
    assert s.report.failed is not None and s.report.failed.name == "dhcp"
    assert s.report.failed.kind == "product"


def test_no_banner_is_infrastructure_and_quarantines() -> None:
    t, _ = target([], broken=True)
    seen: list[InfraFailure] = []
    s = BootStrategy(t, timeouts={"power-on": 0.3}, on_infra=seen.append)
    with pytest.raises(InfraFailure, match="banner") as info:
        s.install()
    assert info.value.stage == "power-on" and info.value.board == "pi-01"
    assert len(seen) == 1 and s.report.failed is not None and s.report.failed.kind == "infrastructure"


def test_install_failure_is_product_and_named() -> None:
    script = [*netboot_install(False)[:7], "malina: INSTALL FAILED: sha256 mismatch: got 12, want 00"]
    t, _ = target(script)
    s = BootStrategy(t, timeouts={"writing": 2.0})
    with pytest.raises(ProductFailure) as info:
        s.install()
    assert "INSTALL FAILED" in str(info.value) and info.value.stage == "writing"


def test_no_dhcp_reply_is_infrastructure() -> None:
    script = netboot_install(False)[:2]
    t, _ = target(script)
    s = BootStrategy(t, timeouts={"dhcp": 0.3})
    with pytest.raises(InfraFailure, match="DHCP"):
        s.install()


def test_boot_local_refuses_a_netboot() -> None:
    t, _ = target(netboot_install(False))  # the board netboots although it must boot local
    s = BootStrategy(t, timeouts={"netboot-fails": 1.0, "sd-boot": 1.0})
    with pytest.raises(ProductFailure):
        s.boot_local()


def test_a_boot_local_answer_then_the_retry_installs() -> None:
    """The hook's failure policy answered the first attempt (backend slow): the bootloader's retry gets the
    install options, and the strategy follows it, recording both answers."""
    script = netboot_install(False)
    retry = [script[0], script[1], "NET 10.90.1.100 255.255.255.0 gw 10.90.1.1 tftp 0.0.0.0", "Firmware not found",
             "Boot mode: NETWORK (02) order f1"]
    t, _ = target(retry + script[2:])
    s = BootStrategy(t)
    s.install(tftp_server="10.89.0.4")
    assert s.report.facts["dhcp_answers"][:2] == ["0.0.0.0", "10.89.0.4"]


LOGS = REPO / "tests" / "data" / "pi4" / "logs"
BANNER_LINE = "RPi: BOOTLOADER release VERSION:8ba17717 DATE: 2022/09/08 TIME: 10:18:10"


def test_an_answer_printed_twice_is_one_attempt_real_log() -> None:
    """A real IPv4 netboot prints its NET line twice per DHCP answer (NET, ARP, NET): one answer, not two."""
    path = LOGS / "netboot-success-01.log"
    assert path.is_file(), f"{path} missing"
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(("#", "[..."))]
    assert sum(ln.startswith("NET ") for ln in lines) == 2  # the premise: the bootloader prints it twice
    t, _ = target([BANNER_LINE, *lines])
    s = BootStrategy(t, timeouts={"dhcp": 1.0})
    s.off()
    s.power_on()
    with pytest.raises(ProductFailure, match=r"in 1 answer\(s\)"):
        s.dhcp(expect_tftp="192.168.20.99")
    assert s.report.facts["dhcp_answers"] == ["192.168.20.105"]


def test_retries_are_counted_once_each() -> None:
    attempt = ["Boot mode: NETWORK (02) order f1", "DHCP src: 02:42:0a:5a:01:01 10.90.1.1",
               "YI_ADDR 10.90.1.100", "NET 10.90.1.100 255.255.255.0 gw 10.90.1.1 tftp 10.89.0.99",
               "ARP 10.89.0.99 02:42:0a:59:00:04", "NET 10.90.1.100 255.255.255.0 gw 10.90.1.1 tftp 10.89.0.99",
               "Firmware not found"]
    t, _ = target([BANNER_LINE, *attempt, *attempt])
    s = BootStrategy(t, timeouts={"dhcp": 1.0})
    s.off()
    s.power_on()
    with pytest.raises(ProductFailure, match=r"in 2 answer\(s\)"):
        s.dhcp(expect_tftp="10.89.0.4")
    assert s.report.facts["dhcp_answers"] == ["10.89.0.99", "10.89.0.99"]


class BrokenSsh(FakeSsh):
    def __init__(self, host: str, fail: str) -> None:
        super().__init__(host)
        self.fail = fail
        self.closed = False

    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        from harness.drivers.base import SshError

        if self.fail == "session":
            raise SshError(f"ssh {self.host}: {command!r}: EOFError")
        return CommandResult(command, 127, "", "hostname: not found\n")

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("fail", ["session", "exit"])
def test_ssh_ready_command_failure_is_product_not_quarantine(fail: str) -> None:
    t, _ = target(netboot_install(False))
    conn = BrokenSsh("pi-01", fail)
    t.ssh = lambda timeout=60.0: conn  # type: ignore[method-assign,assignment,misc]
    seen: list[InfraFailure] = []
    s = BootStrategy(t, on_infra=seen.append)
    with pytest.raises(ProductFailure, match="hostname") as info:
        s.ssh_ready()
    assert info.value.kind == "product" and info.value.stage == "ssh-ready"
    assert seen == [] and conn.closed
