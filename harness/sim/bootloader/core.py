"""The EEPROM bootloader's state machine: the BOOT_ORDER walk, NETWORK and SD modes, and what it hands over.

It talks to the world only through ``Network``, ``Card``, ``Uart`` and ``Clock``, so unit tests drive it
against fakes and the board (``harness.sim.board.firmware``) against the real interface and card. Behaviour and its
sources: tests/data/pi4/SPEC.md (section letters below refer to it, bracketed keys to its source list).

- (c) BOOT_ORDER nibbles are tried least significant first; ``order`` prints the not-yet-tried nibbles;
  0xf (RESTART) starts over, 0xe (STOP) halts, 0x0 (SD CARD DETECT) prints ``SD (00)`` and waits for a card,
  undefined nibbles are tried as SD ("Map undefined boot-modes in BOOT_ORDER to SD" [RN 2020-06-03]).
- NET_BOOT_MAX_RETRIES / SD_BOOT_MAX_RETRIES: retries per mode per pass (-1 = forever); counters reset at
  every mode switch. Each retry prints the ``Boot mode:`` line again ([E559] shows it twice for two tries).
  A TFTP failure with retries left waits 5 s first [RN 2020-06-03]; a DHCP failure does not (the
  [W-E58-timing] trace shows the next DHCP cycle right at +45 s).
- MAX_RESTARTS (default -1) bounds RESTART; past it: "Restart limit … Watchdog reset" and a fresh boot.
- (b) TFTP: serial-prefix probing, self-update probes, start4.elf + fixup4.dat, then start4.elf reads
  config.txt / cmdline.txt / kernel8.img over TFTP itself (no new DHCP). A failure in that stage is not
  handled by BOOT_ORDER (inferred from the Pi 5 report [E687]): the board hangs until power is cut.
- Delays that are not timeouts (power-on to first mode, USB hub, link negotiation, the first DHCP answer, TFTP
  throughput, firmware to kernel, the LED error pattern between modes) are the real-hardware durations of
  ``timing.py`` (one table with the sources), scaled by the time factor like the timeouts.
- A failed network attempt stops the network before the next try or mode: ``Stopping network``, the RX
  counters, ``GENET STOP: 0``, ``NETBOOT CANCEL`` [NST] (``network_stop``); ``NETBOOT init failed`` follows
  when the attempt failed before TFTP [NST, E559].

Boot-local methods (issue 19; the backend's ``decision.py``), what is documented and what is assumed here:

- ``tftp-deny`` (option 66 = the real TFTP server, which answers every read with TFTP error 1): DOCUMENTED. The
  bootloader prints ``TFTP 1: File not found`` per read [F1850, STR], clears the serial prefix when neither
  start4.elf nor start.elf is there [DOC-BL], finds no start4.elf anywhere → ``Firmware not found`` [F1850,
  STR] → "if the firmware is not found … continue" with the next boot mode [DOC-FLOW], after
  NET_BOOT_MAX_RETRIES retries [DOC-BL] (1: two tries), each retry after the 5 s TFTP-failure pause
  [RN 2020-06-03]. The error comes back at once, so no TFTP timeout is spent.
- ``opt66-zero`` (option 66 = ``0.0.0.0``): ASSUMED. No evidence of what a Pi 4 does with it exists [SPEC.md (a)];
  the sim treats it as no TFTP server: ``NET … tftp 0.0.0.0``, ``NETBOOT init failed`` (the line a failed
  network attempt prints [E559, NST]), the same retry and pause as a TFTP failure, then the next mode. The
  qualification suite (``qualify/``) measures it on real boards.
- ``opt66-zero+tftp-deny``: in the sim the 0.0.0.0 path above (the TFTP server is never reached); on a release
  that ignored 0.0.0.0 and found the TFTP server some other way, the documented tftp-deny path. The sim-only
  EEPROM key ``SIM_OPTION66_ZERO=ignore`` (``dora.py``) models such a release for tests.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from harness.sim.bootloader.config import BOOT_MODE_NAMES, EepromConfig, mode_step
from harness.sim.bootloader.dora import Lease
from harness.sim.bootloader.events import Clock, Uart
from harness.sim.bootloader.sd import SdBoot
from harness.sim.bootloader.tftp import Tftp, TftpResult
from harness.sim.bootloader.timing import (
    CARD_POLL_S,
    FIRMWARE_TO_KERNEL_NET_S,
    FIRMWARE_TO_KERNEL_SD_S,
    LINK_S,
    LINK_TO_DHCP_S,
    MODE_SWITCH_S,
    PORT_POWER_S,
    POWER_ON_S,
    TFTP_RETRY_PAUSE_S,
    USB_HUB_S,
    transfer_s,
)
from harness.sim.media.cardfs import CardError

# Every modelled delay, with its source, is in timing.py (real-hardware seconds, scaled by the time factor).
# What a real loader asks the TFTP server for on an empty tree: 8 reads before "Firmware not found" [F1850]:
# the prefix probes start4.elf, start.elf [W-E74], config.txt, the self-update signatures when
# ENABLE_SELF_UPDATE=1 (the default) and the recovery images (names and order of a 2024 build [USB214], the
# recovery pair also [W-E74]), then start4.elf. A companion file (pieeprom.upd after pieeprom.sig, a fixup
# after its recovery image) is asked for only when its first file exists: the count of [F1850] leaves no room
# for them on an empty server (inferred; the names of the 8 are not in that report).
SELF_UPDATE_PROBES: tuple[tuple[str, str | None], ...] = (("vl805.sig", None), ("pieeprom.sig", "pieeprom.upd"))
RECOVERY_PROBES: tuple[tuple[str, str | None], ...] = (
    ("recover4.elf", "fixup4rc.dat"), ("recovery.elf", "fixup_rc.dat"))
START4_STAGE = ("config.txt", "cmdline.txt", "kernel8.img")


class Network(Protocol):
    @property
    def tftp(self) -> Tftp: ...

    def start(self, timeout: float) -> int | None:
        """Bring the link up; its speed, or None when there is no link within ``timeout``."""
        ...

    def dhcp(self) -> Lease | None: ...

    def configure(self, lease: Lease) -> None: ...

    def arp(self, lease: Lease, target: str, timeout: float) -> str | None: ...

    def stop(self) -> None: ...


class Card(Protocol):
    def find_firmware(self) -> SdBoot: ...


@dataclass(frozen=True)
class Identity:
    mac: bytes
    serial: int
    revision: int

    @property
    def mac_text(self) -> str:
        return ":".join(f"{b:02x}" for b in self.mac)


@dataclass
class Netboot:
    kind: Literal["netboot"]
    lease: Lease
    server: str
    prefix: str
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class SdBooted:
    kind: Literal["sd"]
    boot: SdBoot


@dataclass
class Halted:
    """The board stopped: STOP nibble, or a start4.elf-stage failure (hangs until power is cut)."""

    kind: Literal["halted"]
    reason: str


Outcome = Netboot | SdBooted | Halted


class WatchdogReset(Exception):
    """MAX_RESTARTS exceeded: the board resets and boots from the start."""


@dataclass
class Bootloader:
    config: EepromConfig
    identity: Identity
    network: Network
    card: Card
    uart: Uart
    clock: Clock
    time_factor: float
    passes: int = 0  # completed BOOT_ORDER passes (RESTARTs)
    max_passes: int | None = None  # tests: stop after this many RESTARTs
    trace: list[str] = field(default_factory=list)
    # what the build prints and waits for around the USB hardware (``uartlog.usb_profile``): the port-power
    # reset before the first mode, the on-board hub's enumeration after the first ``Boot mode:`` line
    port_power: bool = False
    usb_hub: bool = False
    _hub_pending: bool = field(default=False, init=False, repr=False)

    def _sleep(self, real_seconds: float) -> None:
        self.clock.sleep(real_seconds * self.time_factor)

    def _seconds(self, ms: int) -> float:
        return ms / 1000.0 * self.time_factor

    # -- top level -------------------------------------------------------------------------------------
    def boot(self) -> Outcome:
        """From power-on to the hand-over. Watchdog resets start over with a new banner."""
        while True:
            try:
                return self._boot_once()
            except WatchdogReset:
                continue

    def _boot_once(self) -> Outcome:
        self.uart.event("banner", serial=self.identity.serial, revision=self.identity.revision)
        self._sleep(POWER_ON_S)
        if self.port_power:
            self.uart.event("usb_port_power", ms=1000)
            self._sleep(PORT_POWER_S)
        self._hub_pending = self.usb_hub
        restarts = 0
        while True:
            for index in range(8):
                step = mode_step(self.config.boot_order, index)
                if step.nibble == 0xF:
                    break
                if step.nibble == 0xE:
                    self.uart.event("boot_mode", name="STOP", nibble=0xE, remaining=step.remaining)
                    self.uart.event("boot_stopped")
                    return Halted("halted", "STOP in BOOT_ORDER")
                outcome = self._try_mode(step.nibble, step.remaining)
                if outcome is not None:
                    return outcome
                self._sleep(MODE_SWITCH_S)
            restarts += 1
            self.passes += 1
            if self.max_passes is not None and self.passes >= self.max_passes:
                return Halted("halted", f"test limit of {self.max_passes} passes")
            if 0 <= self.config.max_restarts < restarts:
                self.uart.event("restart_limit", max=self.config.max_restarts)
                raise WatchdogReset
            self.uart.event("restart", count=restarts, max=self.config.max_restarts)

    def _try_mode(self, nibble: int, remaining: int) -> Outcome | None:
        if nibble not in BOOT_MODE_NAMES:
            self.uart.event("unknown_mode", nibble=nibble)
            nibble = 0x1
        name = BOOT_MODE_NAMES[nibble]
        limit = {0x2: self.config.net_boot_max_retries, 0x1: self.config.sd_boot_max_retries}.get(nibble, 0)
        attempt = 0
        while True:
            self.uart.event("boot_mode", name=name, nibble=nibble, remaining=remaining)
            self.trace.append(f"{name}:{nibble:x}")
            if self._hub_pending:  # once per power-on, after the first mode line [E654, E559]
                self._hub_pending = False
                self.uart.event("usb_hub")
                self._sleep(USB_HUB_S)
            if nibble == 0x2:
                outcome, pause = self._network()
            elif nibble in (0x0, 0x1):
                outcome, pause = self._sd(wait_for_card=nibble == 0x0), False
            else:
                self.uart.event("mode_failed", name=name)  # no such hardware in the sim
                outcome, pause = None, False
            if outcome is not None:
                return outcome
            attempt += 1
            if limit >= 0 and attempt > limit:
                return None
            if pause:
                self._sleep(TFTP_RETRY_PAUSE_S)

    # -- SD --------------------------------------------------------------------------------------------
    def _sd(self, *, wait_for_card: bool) -> Outcome | None:
        while True:
            try:
                boot = self.card.find_firmware()
            except CardError as exc:
                reason = str(exc)
                if "start4.elf not found" in reason:
                    self.uart.event("firmware_not_found")
                else:
                    self.uart.event("sd_failed", reason=reason)
                if not wait_for_card:
                    return None
                self.uart.event("insert_sd")
                self._sleep(CARD_POLL_S)
                continue
            if boot.card is not None:  # card detection, MBR and FAT as the loader prints them [E282, F1420]
                self.uart.event("sd_card", card=boot.card)
            if "config.txt" in boot.files:
                self.uart.event("file_read", path=boot.prefix + "config.txt", size=len(boot.files["config.txt"]))
            for name in ("recover4.elf", "recovery.elf"):  # [MRP1562]
                self.uart.event("file_missing", path=boot.prefix + name)
            for name in ("start4.elf", "fixup4.dat"):
                if name in boot.files:
                    self.uart.event("file_read", path=boot.prefix + name, size=len(boot.files[name]))
            self.uart.event("start_firmware", file="start4.elf", partition=0, boardrev=self.identity.revision)
            self._sleep(FIRMWARE_TO_KERNEL_SD_S)
            return SdBooted("sd", boot)

    # -- NETWORK ---------------------------------------------------------------------------------------
    def _prefix(self) -> str:
        if self.config.tftp_prefix == 1:
            return self.config.tftp_prefix_str
        if self.config.tftp_prefix == 2:
            return "-".join(f"{b:02x}" for b in self.identity.mac) + "/"
        return f"{self.identity.serial:08x}/"

    def _network(self) -> tuple[Outcome | None, bool]:
        """One network attempt: (outcome, whether the failure was a TFTP one)."""
        self.uart.event("net_start", mac=self.identity.mac_text, tftp_ip=self.config.tftp_ip or "0.0.0.0")
        try:
            speed = self.network.start(self._seconds(self.config.dhcp_timeout_ms))
            if speed is None:
                # no LINK STATUS line: "Stopping network … NETBOOT init failed" [NST]
                return self._failed(tftp=False)
            self._sleep(LINK_S)
            self.uart.event("link_up", speed=speed)
            self._sleep(LINK_TO_DHCP_S)
            lease = self.network.dhcp()
            if lease is None:
                return self._failed(tftp=False)
            shown_tftp = lease.tftp or "0.0.0.0"
            gw = self._shown_gateway(lease)
            self.uart.event("net_config", ip=lease.ip, mask=lease.mask, gw=gw, tftp=shown_tftp)
            if lease.tftp is None:
                # ASSUMED (boot-local by opt66-zero): no TFTP server named, e.g. option 66 = 0.0.0.0 [SPEC.md (a)]:
                # the attempt fails and counts as a TFTP failure (retry after the pause)
                return self._failed(tftp=True, init_failed=True)
            self.network.configure(lease)
            hop = lease.tftp if gw == "0.0.0.0" else gw
            server_mac = self.network.arp(lease, hop, self._seconds(self.config.tftp_file_timeout_ms))
            if server_mac is None:
                return self._failed(tftp=True, init_failed=True)
            self.uart.event("arp", ip=lease.tftp, mac=server_mac)
            self.uart.event("net_config", ip=lease.ip, mask=lease.mask, gw=gw, tftp=shown_tftp)
            outcome = self._tftp_boot(lease, lease.tftp, server_mac)
            if outcome is None:
                return self._failed(tftp=True, init_failed=False)
            return outcome, False
        finally:
            self.network.stop()

    def _failed(self, *, tftp: bool, init_failed: bool = True) -> tuple[None, bool]:
        """The end of a failed attempt: the network stopped and the netboot cancelled [NST], then ``NETBOOT init
        failed`` when it failed before TFTP [NST, E559]; after ``Firmware not found`` that line is not printed
        (inferred: [F1850] ends with ``Firmware not found``)."""
        self.uart.event("network_stop")
        if init_failed:
            self.uart.event("netboot_failed")
        return None, tftp

    def _shown_gateway(self, lease: Lease) -> str:
        """The ``gw`` of the ``NET`` line: 0.0.0.0 when the TFTP server is on-link even though option 3 was
        sent (observed [NST, E376]); the router otherwise (inferred: the bootloader must route then)."""
        if lease.tftp is None or lease.router is None:
            return "0.0.0.0"
        net = ipaddress.IPv4Network(f"{lease.ip}/{lease.mask}", strict=False)
        return "0.0.0.0" if ipaddress.IPv4Address(lease.tftp) in net else lease.router

    def _get(self, server: str, server_mac: str, path: str, *, probe: bool, show: bool = True) -> TftpResult:
        if show:
            self.uart.event("tftp_get", server_mac=server_mac, server_ip=server, path=path)
        began = self.clock.monotonic()
        result = self.network.tftp.get(server, path, probe=probe)
        if result.status == "ok":  # the real loader's throughput [E87] (timing.py)
            self.clock.sleep(transfer_s(result.size) * self.time_factor - (self.clock.monotonic() - began))
        self.trace.append(f"tftp:{'probe' if probe else 'read'}:{path}:{result.status}")
        if not show:
            return result
        if result.status == "ok":
            self.uart.event("tftp_complete", size=result.size)
            self.uart.event("file_read", path=path, size=result.size)
        elif result.status == "error":
            self.uart.event("tftp_error", code=result.code, message=result.message)
        elif result.status == "timeout":
            self.uart.event("tftp_timeout", timeouts=1)
        return result

    def _tftp_boot(self, lease: Lease, server: str, mac: str) -> Outcome | None:
        prefix = self._prefix()
        found = False
        for name in ("start4.elf", "start.elf"):
            if self._get(server, mac, prefix + name, probe=True).status == "exists":
                found = True
                break
        if not found:
            prefix = ""  # "If neither start4.elf nor start.elf are found … the prefix is cleared" [DOC-BL]
        files: dict[str, bytes] = {}
        cfg = self._get(server, mac, prefix + "config.txt", probe=False)
        if cfg.status == "ok":
            files["config.txt"] = cfg.data
        probes = (SELF_UPDATE_PROBES if self.config.enable_self_update else ()) + RECOVERY_PROBES
        for name, companion in probes:
            if self._get(server, mac, prefix + name, probe=True).status == "exists" and companion:
                self._get(server, mac, prefix + companion, probe=True)
        start = self._get(server, mac, prefix + "start4.elf", probe=False)
        if start.status != "ok":
            # DOCUMENTED (boot-local by tftp-deny, or no tree): "Firmware not found" [F1850], then the next try
            # or boot mode [DOC-FLOW]
            self.uart.event("firmware_not_found")
            return None
        files["start4.elf"] = start.data
        fixup = self._get(server, mac, prefix + "fixup4.dat", probe=False)
        if fixup.status == "ok":
            files["fixup4.dat"] = fixup.data
        self.uart.event("start_firmware", file="start4.elf", partition=0, boardrev=self.identity.revision)
        started = self.clock.monotonic()
        # start4.elf's own reads: with BOOT_UART alone it prints nothing [L3821]
        for name in START4_STAGE:
            got = self._get(server, mac, prefix + name, probe=False, show=False)
            if got.status == "ok":
                files[name] = got.data
            elif name == "kernel8.img":
                return Halted("halted", f"start4.elf could not read {prefix}kernel8.img ({got.status})")
        self.clock.sleep(FIRMWARE_TO_KERNEL_NET_S * self.time_factor - (self.clock.monotonic() - started))
        return Netboot("netboot", lease, server, prefix, files)


def kernel_cmdline(cmdline: str, mac: bytes) -> str:
    """The command line Linux prints: the firmware prepends its own arguments and rewrites ``serial0`` to
    ``ttyS0`` (the Pi 4's primary UART is the mini UART) [handover-start4-uart2ndstage-to-kernel-01.log]."""
    mac_up = ":".join(f"{b:02X}" for b in mac)
    firmware = (
        "coherent_pool=1M 8250.nr_uarts=1 snd_bcm2835.enable_compat_alsa=0 snd_bcm2835.enable_hdmi=1  "
        f"smsc95xx.macaddr={mac_up} vc_mem.mem_base=0x3ec00000 vc_mem.mem_size=0x40000000  "
    )
    words = [w.replace("console=serial0", "console=ttyS0") for w in cmdline.split()]
    return firmware + " ".join(words)


def has_serial_console(cmdline: str) -> bool:
    return any(w.startswith(("console=serial0", "console=ttyS0", "console=ttyAMA0")) for w in cmdline.split())


def describe(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, Netboot):
        return {"kind": "netboot", "ip": outcome.lease.ip, "server": outcome.server, "prefix": outcome.prefix}
    if isinstance(outcome, SdBooted):
        return {"kind": "sd", "prefix": outcome.boot.prefix}
    return {"kind": "halted", "reason": outcome.reason}
