"""The boot state machine of one board (labgrid's *strategy*):

    off → power-on → dhcp → tftp → installer → writing → rebooting → sd-boot → ssh-ready

Each stage waits for its evidence on the serial console (patterns below, tolerant of every bootloader format
generation's timestamps), has its own timeout, runs as an Allure step and is timed. A failure is classified
where it happens (``harness.drivers.base``): no console output, no DHCP reply, a TFTP transfer that stalls, a
power API that does not answer, a serial line that closes are **infrastructure**; wrong options, an install
that fails, a boot from the wrong medium are **product**. An infrastructure failure calls ``on_infra`` (the
fixtures quarantine the board for the run).

Flows: ``install()`` (the whole sequence, netboot install then SD boot and SSH) and ``boot_local()`` (the
network attempt must fail and the board must come up from its card); the stage methods are public so that a
scenario can compose its own flow.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import allure

from harness.console.parser import parse_bytes
from harness.drivers.base import (
    ConsoleTimeout,
    HarnessFailure,
    InfraFailure,
    ProductFailure,
    Ssh,
)
from harness.drivers.console import FIRMWARE_NOT_FOUND
from harness.session import Target
from harness.wait import Deadline

STAGES = ("off", "power-on", "dhcp", "tftp", "installer", "writing", "rebooting", "sd-boot", "ssh-ready")

SIM_TIMEOUTS = {"off": 10.0, "power-on": 20.0, "dhcp": 30.0, "tftp": 30.0, "installer": 60.0, "writing": 180.0,
                "rebooting": 30.0, "sd-boot": 60.0, "ssh-ready": 60.0, "netboot-fails": 60.0}
RACK_TIMEOUTS = {"off": 30.0, "power-on": 30.0, "dhcp": 120.0, "tftp": 120.0, "installer": 300.0,
                 "writing": 3600.0, "rebooting": 120.0, "sd-boot": 180.0, "ssh-ready": 300.0,
                 "netboot-fails": 300.0}

BANNER = r"RPi: BOOTLOADER release"
NET_CONFIG = r"NET (?P<ip>\d+\.\d+\.\d+\.\d+) (?P<mask>\S+) gw (?P<gw>\S+) tftp (?P<tftp>\S+)"
NETWORK_MODE = r"Boot mode: NETWORK"
# what starts another DHCP answer on the console: a reply's block, a retry's boot mode line, a reboot
NEW_ATTEMPT = rb"DHCP src: |Boot mode: |RPi: (?:BOOTLOADER|BOOTSYS) release"
START_FROM_NET = r"Starting start4\.elf @ 0x[0-9a-f]+ partition 0"
NETBOOT_FAILED = r"NETBOOT init failed|Firmware not found"
SD_MODE = r"Boot mode: SD"
INSTALL_URL = r"malina: install URL (?P<url>\S+)"
INSTALL_FAILED = r"malina: INSTALL FAILED: [^\r\n]*|malina: error: [^\r\n]*"
IMAGE_VERIFIED = r"malina: image verified: (?P<bytes>\d+) bytes"
INSTALL_OK = r"malina: INSTALL OK"
LOGIN = r"(?m)^(?:[\d.]+[ \t]+)?(?P<host>[a-z0-9][a-z0-9-]*) login: ?"


@dataclass
class StageRecord:
    name: str
    seconds: float
    ok: bool
    detail: str = ""
    kind: str = ""  # "" | "infrastructure" | "product"


@dataclass
class BootReport:
    board: str
    stages: list[StageRecord] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    console_start: int = 0

    def seconds(self, name: str) -> float:
        return sum(s.seconds for s in self.stages if s.name == name)

    @property
    def total(self) -> float:
        return sum(s.seconds for s in self.stages)

    @property
    def failed(self) -> StageRecord | None:
        return next((s for s in self.stages if not s.ok), None)

    def table(self) -> str:
        rows = [f"{'stage':<14} {'seconds':>8}  result"]
        rows += [f"{s.name:<14} {s.seconds:8.2f}  {'ok' if s.ok else s.kind + ': ' + s.detail[:200]}"
                 for s in self.stages]
        rows.append(f"{'total':<14} {self.total:8.2f}")
        return "\n".join(rows)


class BootStrategy:
    def __init__(self, target: Target, *, timeouts: dict[str, float] | None = None, scale: float = 1.0,
                 on_infra: Callable[[InfraFailure], None] | None = None,
                 diagnose: Callable[[HarnessFailure], HarnessFailure] | None = None) -> None:
        self.t = target
        self.diagnose = diagnose  # a failed stage's failure, reclassified with evidence (harness.rackdiag)
        base = SIM_TIMEOUTS if target.lab.lab.kind == "sim" else RACK_TIMEOUTS
        self.timeouts = {k: v * scale for k, v in {**base, **(timeouts or {})}.items()}
        self.on_infra = on_infra
        self.report = BootReport(target.name, console_start=target.console.mark())

    # -- stage bookkeeping ----------------------------------------------------------------------------------
    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        with allure.step(f"{self.t.name}: {name}"):
            try:
                yield
            except HarnessFailure as exc:
                exc.stage = exc.stage or name
                exc.board = exc.board or self.t.name
                found = exc if self.diagnose is None else self.diagnose(exc)
                found.stage, found.board = exc.stage, exc.board
                self.report.stages.append(StageRecord(name, time.monotonic() - start, False, found.message,
                                                      found.kind))
                if isinstance(found, InfraFailure) and self.on_infra is not None:
                    self.on_infra(found)
                if found is not exc:
                    raise found from exc
                raise
            self.report.stages.append(StageRecord(name, time.monotonic() - start, True))

    def _expect(self, stage: str, patterns: str | Sequence[str], *, deaths: Sequence[str] | None = None,
                timeout: float | None = None, infra: bool = False, what: str = "") -> re.Match[bytes]:
        try:
            m = self.t.console.expect(patterns, timeout or self.timeouts[stage], deaths=deaths)
        except ConsoleTimeout as exc:
            text = what or f"no {patterns!r} on the console"
            cls = InfraFailure if infra else ProductFailure
            raise cls(f"{text} within {timeout or self.timeouts[stage]:.0f} s\n{exc.message}") from None
        return m.match

    # -- stages ---------------------------------------------------------------------------------------------
    def off(self) -> None:
        with self.stage("off"):
            self.t.power.off()
            state = self.t.power.state()
            if state not in ("off", "unknown"):
                raise InfraFailure(f"power is {state!r} after switching it off")

    def power_on(self) -> None:
        with self.stage("power-on"):
            self.t.console.mark()
            self.t.power.on()
            self._expect("power-on", BANNER, infra=True, what="no bootloader banner after power on (serial or power)")

    def dhcp(self, *, expect_tftp: str | None = None) -> dict[str, str]:
        """The network boot mode's DHCP: returns the ``NET`` line's fields (ip, mask, gw, tftp).

        With ``expect_tftp``, an answer naming another TFTP server (e.g. the hook's boot-local failure policy
        when the backend was slow) is recorded in ``facts["dhcp_answers"]`` and the stage keeps waiting: the
        bootloader retries by itself (NET_BOOT_MAX_RETRIES, then the BOOT_ORDER loop). Only when no answer
        names the expected server within the stage's timeout is it a product failure. One answer is counted
        once although an IPv4 netboot prints its ``NET`` line twice (before and after the ARP)."""
        with self.stage("dhcp"):
            self._expect("dhcp", NETWORK_MODE, what="the bootloader never tried the network (BOOT_ORDER?)")
            deadline = Deadline(self.timeouts["dhcp"])
            answers: list[str] = []
            self.report.facts["dhcp_answers"] = answers
            while True:
                if deadline.expired:
                    raise ProductFailure(f"option 66 / TFTP server was {', '.join(answers)} in {len(answers)} "
                                         f"answer(s), expected {expect_tftp}")
                try:
                    m = self.t.console.expect(NET_CONFIG, deadline.remaining)
                except ConsoleTimeout as exc:
                    if answers:
                        raise ProductFailure(f"option 66 / TFTP server was {', '.join(answers)} in "
                                             f"{len(answers)} answer(s), expected {expect_tftp}; no further "
                                             f"answer\n{exc.message}") from None
                    raise InfraFailure(f"no usable DHCP reply within {self.timeouts['dhcp']:.0f} s\n"
                                       f"{exc.message}") from None
                net = {k: v.decode() for k, v in m.match.groupdict().items()}
                if answers and not re.search(NEW_ATTEMPT, m.before):
                    # the same answer's NET line again: the bootloader prints it before and after its ARP for
                    # the TFTP server (NET, ARP, NET: tests/data/pi4/logs/netboot-success-01.log)
                    continue
                answers.append(net["tftp"])
                self.report.facts["net"] = net
                if expect_tftp is None or net["tftp"] == expect_tftp:
                    return net

    def tftp(self) -> None:
        with self.stage("tftp"):
            self._expect("tftp", START_FROM_NET, deaths=[FIRMWARE_NOT_FOUND], infra=True,
                         what="start4.elf was not loaded over TFTP (transfer stalled or refused)")

    def installer(self) -> str:
        with self.stage("installer"):
            m = self._expect("installer", INSTALL_URL, deaths=[INSTALL_FAILED],
                             what="the installer did not obtain option 224")
            url = m.group("url").decode()
            self.report.facts["install_url"] = url
            return url

    def writing(self) -> int:
        with self.stage("writing"):
            m = self._expect("writing", IMAGE_VERIFIED, deaths=[INSTALL_FAILED], what="the image was not written")
            written = int(m.group("bytes"))
            self._expect("writing", INSTALL_OK, deaths=[INSTALL_FAILED], timeout=60.0,
                         what="the install did not complete")
            self.report.facts["bytes_written"] = written
            return written

    def rebooting(self) -> None:
        with self.stage("rebooting"):
            self._expect("rebooting", BANNER, what="the board did not reboot after the install")

    def netboot_fails(self) -> dict[str, str] | None:
        """The network attempt of a board that must boot local: its DHCP reply names no usable TFTP server (or
        none comes), the bootloader gives up and moves on. Returns the ``NET`` fields when one was printed."""
        with self.stage("dhcp"):
            self._expect("dhcp", NETWORK_MODE, what="the bootloader never tried the network (BOOT_ORDER?)")
            m = self._expect("netboot-fails", [NET_CONFIG, NETBOOT_FAILED, SD_MODE],
                             what="the network attempt neither failed nor configured")
            net = {k: v.decode() for k, v in m.groupdict().items()} if m.re.pattern.startswith(b"NET ") else None
            self.report.facts["net"] = net
            if net is not None and net["tftp"] not in ("0.0.0.0",):
                # a TFTP server was named: it must fail (e.g. the TFTP server is down) before SD is tried
                self._expect("netboot-fails", [NETBOOT_FAILED, SD_MODE], deaths=[START_FROM_NET],
                             what="the network attempt did not fail")
            return net

    def sd_boot(self, *, hostname: str | None = None) -> str:
        with self.stage("sd-boot"):
            self._expect("sd-boot", SD_MODE, deaths=[START_FROM_NET], what="the board did not try its SD card")
            m = self._expect("sd-boot", LOGIN, what="no login prompt from the installed system")
            host = m.group("host").decode()
            self.report.facts["hostname"] = host
            if hostname is not None and host != hostname:
                raise ProductFailure(f"the installed system calls itself {host!r}, expected {hostname!r}")
            return host

    def ssh_ready(self) -> Ssh:
        with self.stage("ssh-ready"):
            try:
                conn = self.t.ssh(self.timeouts["ssh-ready"])
            except InfraFailure as exc:  # the lab reached the board's console: a dead sshd is the product's
                raise ProductFailure(f"SSH to {self.t.ssh_host}: {exc.message}") from None
            try:  # connected: whatever goes wrong now (a broken session, a non-zero exit) is the installed system's
                host = conn.run_checked("hostname", timeout=20).strip()
            except HarnessFailure as exc:
                conn.close()
                raise ProductFailure(f"SSH to {self.t.ssh_host}: `hostname` failed: {exc.message[:300]}") from None
            self.report.facts["ssh_hostname"] = host
            return conn

    # -- flows ----------------------------------------------------------------------------------------------
    def install(self, *, tftp_server: str | None = None) -> Ssh:
        """The full sequence from power off to SSH on the installed system."""
        self.off()
        self.power_on()
        self.dhcp(expect_tftp=tftp_server)
        self.tftp()
        self.installer()
        self.writing()
        self.rebooting()
        self.netboot_fails()
        self.sd_boot(hostname=self.t.board.install.hostname)
        return self.ssh_ready()

    def boot_local(self, *, hostname: str | None = None, ssh: bool = True) -> Ssh | None:
        """Power on a board whose network attempt must fail: it must come up from its card."""
        self.off()
        self.power_on()
        self.netboot_fails()
        self.sd_boot(hostname=hostname or self.t.board.install.hostname)
        return self.ssh_ready() if ssh else None

    def console_events(self) -> list[dict[str, Any]]:
        """The console since this strategy started, through the console parser."""
        return [dict(ev) for ev in parse_bytes(self.t.console.slice(self.report.console_start))]

    def attach(self) -> None:
        """Attach the stage table and the console slice to the Allure report."""
        allure.attach(self.report.table(), name=f"{self.t.name} stages", attachment_type=allure.attachment_type.TEXT)
        allure.attach(self.t.console.slice(self.report.console_start).decode("utf-8", "replace"),
                      name=f"{self.t.name} console", attachment_type=allure.attachment_type.TEXT)
