"""Bootloader events -> the Pi 4 EEPROM bootloader's UART text, in a chosen format generation.

API (small on purpose; the simulated board is the main caller)::

    log = UartLog("2024", clock=lambda: board_seconds)     # "2021" | "2022" | "2024"
    text = log.render("boot_mode", name="NETWORK", nibble=2, remaining=0xF1)   # -> str, ends with "\\n"

    console = open_console("2022", sys.stdout.buffer, time_factor=0.05)      # an events.Uart
    console.event("banner", serial=0x6E87A417, revision=0xC03111)           # renders, writes, flushes

``UartLog(generation, clock=None, *, exact_msecs=False, build=None)``: ``clock()`` returns board seconds since
power-on (default: wall seconds since the ``UartLog`` was made; only the 2024 format prints it). ``build``
overrides the banner's release (``Build(version, date, time, build_ts)``; default: one real release per
generation, ``BUILDS``). ``exact_msecs`` selects the fixed timestamps of 2025-05-08+ builds; by default the
2024 format reproduces the bug of the 2024-05-17 … 2025-05-08 builds: the two decimals are the **last two
digits of the milliseconds**, so printed values jump backwards (real 25.224 s -> ``25.24``, 25.311 s ->
``25.11``; this reading reproduces every ``MESS:`` / prefix pair in related-pi5-netboot-tftp-01.log). Lines
advance a board-time cursor by their transmit time at 115200 baud, so lines printed together get increasing
(true) times. ``open_console(generation, stream, *, time_factor=1.0, clock=None, exact_msecs=False)`` wraps a
``UartLog`` whose clock is real elapsed time / ``time_factor`` (board time) in a ``UartConsole`` whose
``event(name, **fields)`` writes each event's text to ``stream`` at once (flushed).
``render`` raises ``ValueError`` for an unknown event name or generation, or a missing field.

Generations (tests/data/pi4/SPEC.md section 0; bracketed keys name its sources):

- ``"2021"``: the single-line banner ``RPi: BOOTLOADER release VERSION:… DATE: … BOOTMODE: 0x00000006 part: 0
  BUILD_TIMESTAMP=… 0x<serial> 0x<boardrev> 0x<stc>``, ``NET_BOOT:`` link line, no timestamps.
- ``"2022"``: two-line banner (``… TIME: …`` / ``BOOTMODE: 0x06 partition 0 build-ts … serial … boardrev …
  stc …``), ``NET_BOOT:``, no timestamps.
- ``"2024"``: every logged line prefixed with ``"%6.2f "``-style seconds; a ``BOOTSYS`` banner pair before the
  ``BOOTLOADER`` pair; ``NETWORK:`` link line; DHCP ``op:`` lines have no newline of their own, the next
  (empty) logged line supplies it, so its timestamp is glued to their end (``… expect OFFER 18.61``).

Events and fields (names as ``harness/sim/bootloader/events.py`` emits them; values plain Python):

=====================  ==========================================  ==============================================
event                  fields                                      prints
=====================  ==========================================  ==============================================
banner                 serial:int, revision:int, pm_rsts:int       the generation's banner block (+ SDRAM/USB lines;
                       (optional, 0x1000)                          SDRAM size from the revision)
boot_mode              name, nibble:int, remaining:int             ``Boot mode: %s (%02x) order %x``
unknown_mode           nibble:int                                  ``Unknown boot mode %x. Trying SD.``
retry                  name, count:int                             ``Retry %s %d`` (format string only, unverified)
net_start              mac, tftp_ip                                ``GENET: RESET_PHY`` … ``NET_BOOT: <mac> wait for
                                                                   link TFTP: <tftp_ip>``
link_up                speed:int                                   ``LINK STATUS`` … ``Link ready`` … ``RX: …``
                                                                   (GENET is 1 GbE: faster links print 1000)
usb_port_power         ms:int (1000)                               ``Reset USB port-power 1000 ms`` and the
                                                                   ``xhci_set_port_power`` lines [NST]
usb_hub                —                                           the on-board hub: ``USB2[1] … connected`` …
                                                                   ``HUB init …`` [E654, E559] (2022, 2024)
sd_card                card (``sd.CardInfo``)                      card detection (``SD HOST``, ``CID``,
                                                                   ``SD: bus-width``), ``MBR:`` x4, ``lba:``,
                                                                   ``rsc …``, ``Partition: 0`` [E282, F1420]
file_missing           path                                        ``<path> not found (6)`` [MRP1562]
dhcp_reply             reply (DhcpReply-like: src_mac, src_ip,     ``DHCP src:`` / ``YI_ADDR`` / ``SI_ADDR`` (non-zero
                       yiaddr, siaddr, options [(code, bytes)]),   only) / ``OPTIONS:-`` / ``\\top: %2d len: %3d ``
                       expect ("OFFER"/"ACK"); or those fields     lines; 43 as ``\\t\\tPXE op:`` lines + hexdump
                       flat: server_mac, server_ip, yiaddr,
                       siaddr, options
net_config             ip, mask, gw, tftp                          ``NET %s %s gw %s tftp %s`` (+ ``RX:`` after ARP)
arp                    ip, mac                                     ``ARP %s %s``
tftp_get               server_mac, server_ip, path                 ``TFTP_GET: %s %s %s`` + an empty line + ``RX:``
tftp_complete          size:int                                    ``TFTP: complete %u`` + ``RX:``
tftp_error             code:int, message                           ``TFTP %d: %s`` (e.g. ``TFTP 1: File not found``)
tftp_timeout           timeouts:int                                ``TFTP: disconnect: timeouts %d``
tftp_abort             path (optional)                             nothing: the bootloader sends TFTP ERROR 0 "Early
                                                                   terminate" to the server; no UART line observed
file_read              path, size:int                              ``Read %s bytes %8d hnd 0x%08x``
firmware_not_found     —                                           ``Firmware not found``
netboot_failed         —                                           ``NETBOOT init failed``
network_stop           —                                           ``Stopping network``, ``RX: …``,
                                                                   ``GENET STOP: 0``, ``NETBOOT CANCEL`` [NST]
insert_sd              —                                           ``Insert SD-CARD``
restart                count:int, max:int                          ``Restart %d max %d`` (unverified)
restart_limit          max:int                                     ``Restart limit (%d)exceeded. Watchdog reset ``
boot_stopped           —                                           ``BOOT_STOPPED: 0x00000000 0x0`` (unverified args)
start_firmware         file, partition:int, boardrev:int,          ``Firmware:`` / ``0x<rev> …`` / ``MEM GPU: …`` /
                       address:int (0xfec00200)                    ``Starting %s @ 0x%08x partition %d`` / (``Stopping
                                                                   network`` after a netboot) / ``PCI reset`` /
                                                                   ``Stop display`` / ``Display stopped`` / ``+``
mess                   text                                        start4.elf with uart_2ndstage=1:
                                                                   ``MESS:hh:mm:ss.uuuuuu:0: <text>`` (no prefix)
kernel                 cmdline, model (optional: the banner's      Linux's first lines (``[    0.000000] Booting
                       revision's, ``board_model``)                Linux …``, …, ``Kernel command line: …``)
sd_failed, mode_failed any                                         nothing (sim-internal, a real board prints no
                                                                   such line)
=====================  ==========================================  ==============================================

Lines end with ``\\n``. ``MESS:`` and kernel lines never carry the bootloader's timestamp (on a Pi 4 they are
printed by start4.elf and Linux themselves). Choices not fixed by a real log are marked "inferred" below.
"""

from __future__ import annotations

import ipaddress
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from harness.dhcp.codec import MessageType

GENERATIONS = ("2021", "2022", "2024")
# The TFTP block size each generation's release asks for (``blksize`` of its RRQ): 1024 since 2019-10-08
# ("TFTP now uses RFC2348 blksize option to get 1024 byte blocks"), 1468 since the 2022-10-03 beta ("Increase
# TFTP_MAX_BLOCKSIZE to 1468", in the default release from 2022-11-25) [RN]; 1024 is on the wire [W-E74], 1468
# is inferred from the release notes (no capture of a newer RRQ was found).
TFTP_BLKSIZE = {"2021": 1024, "2022": 1468, "2024": 1468}
GENET_MAX_MBPS = 1000  # the Pi 4's GENET MAC is 1 GbE: logs show 1000 or 100 [F1575, DOC-IPV6]
BAUD_CHARS_PER_S = 115200 / 10  # 8N1: 10 bit times per character
START4_ADDRESS = 0xFEC00200

# The message types the bootloader's console names (the strings in its image), in its own spelling where that
# differs from the RFC names; any other value prints as UNKNOWN.
_SPELLING = {MessageType.NAK: "NACK", MessageType.LEASEQUERY: "LEASE_QUERY"}
TYPE_NAMES: dict[int, str] = {
    int(t): _SPELLING.get(t, t.name) for t in MessageType if t <= MessageType.INFORM or t in _SPELLING}
IP_VALUE_OPTIONS = (1, 3, 28, 54)  # options printed with a dotted-quad value (all netboot logs)


@dataclass(frozen=True)
class Build:
    """A bootloader release as its banner shows it. ``phy_id``: prints ``PHY ID 600d 84a2`` after
    ``GENET: RESET_PHY`` (2021-11-22 and later logs do; the 2021-02-16 log does not, and the 2021-07-06
    image has no such format string)."""

    version: str
    date: str
    time: str
    build_ts: int
    phy_id: bool = True


# One real release per generation (from the logs in tests/data/pi4/logs and the strings file there).
BUILDS = {
    "2021": Build("c258ef8f", "Jul  6 2021", "11:44:56", 1625568293, phy_id=False),
    "2022": Build("0fc8fc8e", "2022/12/07", "14:24:15", 1670423055),
    "2024": Build("3858f977", "2024/12/07", "12:39:28", 1733575168),
}
FIRMWARE = ("102f1e848393c2112206fadffaaf86db04e98326", "Aug 26 2022", "14:03:16")


class ReplyLike(Protocol):
    """What ``dhcp_reply`` needs of a reply (``harness.sim.bootloader.dhcp.DhcpReply`` fits)."""

    src_mac: str
    src_ip: str
    yiaddr: str
    siaddr: str
    options: list[tuple[int, bytes]]


def board_model(revision: int) -> str:
    """The model line Linux prints for a new-style revision code: bits 0-3 are the board revision, 1.<n>
    [DOC-REV]. Observed: d03114 -> ``Rev 1.4`` [handover-start4-uart2ndstage-to-kernel-01.log]; c03111 is a
    rev 1.1 board [F1465, F1763], d03115 a rev 1.5 [E654]."""
    return f"Raspberry Pi 4 Model B Rev 1.{revision & 0xF}"


def usb_profile(generation: str, revision: int) -> tuple[bool, bool]:
    """(port-power reset before the first mode, on-board hub lines after it) for a build and board:
    the 2021-07-06 release prints neither [E376]; the 2021-11-22 one resets the port power on an R1.1 board
    [NST] ("on R1.4 USB port power is turned off automatically by the PMIC" [RN 2020-07-31]); 2024 builds
    print the hub after the first ``Boot mode:`` [E654, E668], as does an April 2024 one without timestamps
    [E559]. 2022 = the 2021-11 behaviour plus the hub (inferred between the two)."""
    if generation == "2021":
        return False, False
    return generation == "2022" and (revision & 0xF) < 4, True


def sdram_gbit(revision: int) -> int:
    """Total SDRAM in Gbit from the new-style revision code's memory-size field (bits 20-22:
    0 = 256 MB … 5 = 8 GB): c03111 (4 GB) -> 32, d03115 (8 GB) -> 64, as the logs print it."""
    return max(2, (256 << ((revision >> 20) & 0x7)) * 8 // 1024)


def _ip(value: bytes) -> str:
    return str(ipaddress.IPv4Address(value[:4])) if len(value) >= 4 else ""


def _printable(raw: bytes) -> str:
    text = raw.split(b"\0", 1)[0].decode("ascii", "replace")
    return "".join(c if " " <= c <= "~" else "." for c in text)


def _option66_address(raw: bytes) -> str:
    """``[66]: %i``: option 66 as the bootloader reads it (ASCII dotted quad). Not an address -> 0.0.0.0
    (inferred: %i of an unset address)."""
    try:
        return str(ipaddress.IPv4Address(_printable(raw).strip()))
    except ValueError:
        return "0.0.0.0"


def hexdump(data: bytes, offset: int = 0) -> list[str]:
    """The bootloader's hexdump lines (related-pi5-netboot-dhcp-01.log): ``%08x`` + two spaces, 16 bytes
    ``xx `` with one extra space after the 8th, then ``|ascii|`` padded to 16."""
    lines = []
    for start in range(0, len(data), 16):
        chunk = data[start:start + 16]
        cells = "".join(
            (f"{chunk[i]:02x} " if i < len(chunk) else "   ") + (" " if i == 7 else "") for i in range(16)
        )
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset + start:08x}  {cells}|{text:<16}|")
    return lines


def _suboptions(body: bytes) -> list[tuple[int, int, int]]:
    """Option 43's PXE sub-options as (code, length, start of value in ``body``). Not the codec's
    ``parse_options``: the console shows what the walk reached before a malformed tail (no error), and the
    boot-menu hexdump needs each value's offset."""
    out = []
    i = 0
    while i < len(body):
        code = body[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= len(body):
            break
        length = body[i + 1]
        out.append((code, length, i + 2))
        i += 2 + length
    return out


class _Rx:
    """The GENET receive counters of the ``RX:`` line. Real ones differ per field and only move when frames
    arrive: ``RX: 13 IP: 0 IPV4: 4 MAC: 4 UDP: 3 UDP RECV: 2`` after OFFER, ACK and ARP [NST]; during TFTP every
    field moves by the same count and a line after a sent RRQ repeats the last one [E687]. Modelled: a DHCP
    reply is one accepted UDP frame plus the broadcast-domain noise that arrives while waiting for it (three
    non-IP frames and one IPv4 frame that is not UDP, inferred from [NST]'s totals); an ARP reply plus noise is
    three frames; TFTP replies are accepted UDP frames."""

    def __init__(self) -> None:
        self.rx = self.ipv4 = self.udp_seen = self.udp_recv = 0

    def dhcp_reply(self) -> None:
        self.rx += 5
        self.ipv4 += 2
        self.udp_seen += 1
        self.udp_recv += 1

    def arp_reply(self) -> None:
        self.rx += 3

    def udp(self, frames: int) -> None:
        self.rx += frames
        self.ipv4 += frames
        self.udp_seen += frames
        self.udp_recv += frames

    def line(self) -> str:
        return (f"RX: {self.rx} IP: 0 IPV4: {self.ipv4} MAC: {self.ipv4} UDP: {self.udp_seen} "
                f"UDP RECV: {self.udp_recv} IP_CSUM_ERR: 0 UDP_CSUM_ERR: 0")


class UartLog:
    """Renders one board's bootloader events as UART text. Not thread-safe; one per board."""

    def __init__(self, generation: str, clock: Callable[[], float] | None = None, *,
                 exact_msecs: bool = False, build: Build | None = None) -> None:
        if generation not in GENERATIONS:
            raise ValueError(f"unknown UART format generation {generation!r}: one of {', '.join(GENERATIONS)}")
        self.generation = generation
        self.build = build or BUILDS[generation]
        if clock is None:
            start = time.monotonic()

            def clock() -> float:
                return time.monotonic() - start

        self._clock = clock
        self._exact = exact_msecs
        self._cursor = 0.0
        self._mac = "00:00:00:00:00:00"
        self._net_up = False
        self._after_arp = False
        self._rx = _Rx()
        self._revision = 0xC03111

    # -- public ---------------------------------------------------------------------------------------
    @property
    def timestamped(self) -> bool:
        return self.generation == "2024"

    def render(self, name: str, /, **fields: Any) -> str:
        """The UART text of one event (possibly several lines, possibly empty)."""
        method = getattr(self, "_ev_" + name, None) if name.isidentifier() else None
        if method is None:
            raise ValueError(f"uartlog: unknown event {name!r}")
        out: list[str] = []
        try:
            method(out, **fields)
        except (TypeError, KeyError) as exc:  # a missing field: say which event lacked what
            raise ValueError(f"uartlog: event {name!r}: {exc}") from exc
        return "".join(out)

    def render_all(self, events: Iterable[tuple[str, dict[str, Any]]]) -> str:
        return "".join(self.render(name, **fields) for name, fields in events)

    # -- line primitives ------------------------------------------------------------------------------
    def _now(self) -> float:
        self._cursor = max(self._cursor, float(self._clock()))
        return self._cursor

    def stamp(self, seconds: float) -> str:
        """The 6-character timestamp of the 2024 format for ``seconds`` of board time."""
        if self._exact:
            return f"{seconds:6.2f}"
        whole = int(seconds)
        ms = min(999, int((seconds - whole) * 1000 + 1e-6))  # the firmware truncates µs to ms
        return f"{whole}.{ms % 100:02d}".rjust(6)

    def _advance(self, chars: int) -> None:
        self._cursor += chars / BAUD_CHARS_PER_S

    def _log(self, out: list[str], text: str) -> None:
        """A logged line: the timestamp prefix (2024) + text + newline."""
        line = (self.stamp(self._now()) + " " + text) if self.timestamped else text
        out.append(line + "\n")
        self._advance(len(line) + 1)

    def _raw(self, out: list[str], text: str) -> None:
        """Text printed without the logger (no timestamp), e.g. empty lines, ``op:`` heads, hexdumps."""
        out.append(text)
        self._advance(len(text))

    def _end_op(self, out: list[str]) -> None:
        """The newline closing an ``op:`` line: a logged empty message, so in 2024 its timestamp is glued
        to the line's end (observed ``… expect OFFER 18.61``). Real pastes lose trailing blanks; the
        ``"%6.2f "`` prefix makes it ``" 18.61 "`` on the wire (inferred)."""
        if self.timestamped:
            # past 999.99 s the stamp has no leading blank; keep one so that the value stays readable (inferred)
            stamp = self.stamp(self._now())
            self._raw(out, (stamp if stamp.startswith(" ") else " " + stamp) + " \n")
        else:
            self._raw(out, "\n")

    def _at(self, when: float) -> None:
        """Move the board-time cursor forward to ``when`` (the banner's fixed stage times)."""
        self._cursor = max(self._cursor, when)

    def _rx_line(self, out: list[str]) -> None:
        self._log(out, self._rx.line())

    # -- events ---------------------------------------------------------------------------------------
    def _ev_banner(self, out: list[str], *, serial: int, revision: int, pm_rsts: int = 0x1000,
                   **_: Any) -> None:
        b = self.build
        base = self._now()
        self._mac = "00:00:00:00:00:00"
        self._net_up = self._after_arp = False
        self._rx = _Rx()
        self._revision = revision
        gbit = sdram_gbit(revision)
        xhc = "xHC{} ver: 256 HCS: 05000420 fc000031 00e70004 HCC: 002841eb"
        if self.generation == "2021":  # as netboot-offer-pxe-01.log (2021-02-16 build)
            self._at(base + 0.81)
            stc = int(self._cursor * 1e6) & 0xFFFFFFFF
            self._log(out, f"RPi: BOOTLOADER release VERSION:{b.version} DATE: {b.date} TIME: {b.time} "
                           f"BOOTMODE: 0x00000006 part: 0 BUILD_TIMESTAMP={b.build_ts} "
                           f"0x{serial & 0xFFFFFFFF:08x} 0x{revision & 0xFFFFFFFF:08x} 0x{stc:08x}")
            for line in (f"PM_RSTS: 0x{pm_rsts:08x}", "part 00000000 reset_info 00000000", "uSD voltage 3.3V",
                         f"Initialising SDRAM 'Micron' {gbit // 2}Gb x2 total-size: {gbit} Gbit 3200",
                         "PCI reset", "PCI reset", "VLI: HUB2: 0xfff00000 0x24e6 MCU: 0xfff20000 0x15218",
                         "XHCI-STOP", xhc.format(""), xhc.format(""), "xHC ports 5 slots 32 intrs 4"):
                self._log(out, line)
            return
        if self.generation == "2022":  # as eeprom-update-then-boot-01.log (2022-12-07 build)
            self._at(base + 0.40)
            self._log(out, f"RPi: BOOTLOADER release VERSION:{b.version} DATE: {b.date} TIME: {b.time}")
            self._log(out, self._bootmode_line(serial, revision))
            for line in (f"PM_RSTS: 0x{pm_rsts:08x}", "part 00000000 reset_info 00000000", "uSD voltage 3.3V",
                         f"Initialising SDRAM 'Micron' {gbit // 2}Gb x2 total-size: {gbit} Gbit 3200",
                         f"DDR 3200 1 0 {gbit} 152"):
                self._log(out, line)
            self._raw(out, "\n")
            for line in ("XHCI-STOP", xhc.format(""), "USBSTS 1", xhc.format(""), "xHC ports 5 slots 32 intrs 4"):
                self._log(out, line)
            return
        # 2024, as sd-boot-timestamped-01.log (2024-12-07 build): BOOTSYS stage (SDRAM set-up, OTP), then the
        # BOOTLOADER stage; board times are that log's once its msecs bug is undone (0.561 … 2.229).
        self._at(base + 0.561)
        self._log(out, f"RPi: BOOTSYS release VERSION:{b.version} DATE: {b.date} TIME: {b.time}")
        self._log(out, self._bootmode_line(serial, revision))
        self._at(base + 0.581)
        self._log(out, f"PM_RSTS: 0x{pm_rsts:08x}")
        self._log(out, "part 00000000 reset_info 00000000")
        self._log(out, "uSD voltage 3.3V")
        self._at(base + 1.010)
        self._log(out, f"Initialising SDRAM rank 2 total-size: {gbit} Gbit 3200 (0x14 0x00)")
        self._log(out, f"DDR 3200 1 0 {gbit} 152 BL:3")
        self._at(base + 2.011)
        self._log(out, f"OTP boardrev {revision & 0xFFFFFFFF:x} bootrom 8b0 8b0")
        self._log(out, "Customer key hash " + "0" * 64)
        self._log(out, "VC-JTAG unlocked")
        self._raw(out, "\n\n")
        self._at(base + 2.098)
        self._log(out, f"RPi: BOOTLOADER release VERSION:{b.version} DATE: {b.date} TIME: {b.time}")
        self._log(out, self._bootmode_line(serial, revision))
        self._at(base + 2.137)
        for line in ("PCI0 init", "PCI0 reset", "PCIe scan 00001106:00003483", "XHCI-STOP", xhc.format("0"),
                     "USBSTS 11", xhc.format("0"), "xHC0 ports 5 slots 32 intrs 4"):
            self._log(out, line)

    def _bootmode_line(self, serial: int, revision: int) -> str:
        stc = int(self._now() * 1e6) & 0xFFFFFFFF
        return (f"BOOTMODE: 0x06 partition 0 build-ts BUILD_TIMESTAMP={self.build.build_ts} "
                f"serial {serial & 0xFFFFFFFF:08x} boardrev {revision & 0xFFFFFFFF:x} stc {stc}")

    def _ev_boot_mode(self, out: list[str], *, name: str, nibble: int, remaining: int, **_: Any) -> None:
        self._log(out, f"Boot mode: {name} ({nibble:02x}) order {remaining:x}")

    def _ev_unknown_mode(self, out: list[str], *, nibble: int, **_: Any) -> None:
        self._log(out, f"Unknown boot mode {nibble:x}. Trying SD.")

    def _ev_retry(self, out: list[str], *, name: str, count: int, **_: Any) -> None:
        self._log(out, f"Retry {name} {count}")

    def _ev_net_start(self, out: list[str], *, mac: str, tftp_ip: str = "0.0.0.0", **_: Any) -> None:
        self._mac = mac.lower()
        self._net_up = True
        self._rx = _Rx()
        label = "NETWORK" if self.generation == "2024" else "NET_BOOT"
        self._log(out, "GENET: RESET_PHY")
        if self.build.phy_id:
            self._log(out, "PHY ID 600d 84a2")
        self._log(out, f"{label}: {self._mac} wait for link TFTP: {tftp_ip}")

    def _ev_link_up(self, out: list[str], *, speed: int = 1000, **_: Any) -> None:
        mac = bytes.fromhex(self._mac.replace(":", ""))
        self._log(out, f"LINK STATUS: speed: {min(speed, GENET_MAX_MBPS)} full duplex")
        self._log(out, "Link ready")
        self._log(out, "GENET START: 64 16 32")
        self._log(out, f"GENET: UMAC_START 0x{int.from_bytes(mac[:4], 'big'):08x} "
                       f"0x{int.from_bytes(mac[4:], 'big') << 16:08x}")
        self._rx = _Rx()
        self._rx_line(out)

    def _ev_dhcp_reply(self, out: list[str], *, reply: ReplyLike | None = None, expect: str = "OFFER",
                       server_mac: str = "", server_ip: str = "", yiaddr: str = "0.0.0.0",
                       siaddr: str = "0.0.0.0", options: Sequence[tuple[int, bytes]] = (), **_: Any) -> None:
        if reply is not None:
            server_mac, server_ip = reply.src_mac, reply.src_ip
            yiaddr, siaddr, options = reply.yiaddr, reply.siaddr, list(reply.options)
        self._rx.dhcp_reply()
        self._log(out, f"DHCP src: {server_mac.lower()} {server_ip}")
        if yiaddr and yiaddr != "0.0.0.0":
            self._log(out, f"YI_ADDR {yiaddr}")
        if siaddr and siaddr != "0.0.0.0":
            self._log(out, f"SI_ADDR {siaddr}")
        self._log(out, "OPTIONS:-")
        opts = list(options)
        for index, (code, value) in enumerate(opts):
            if code in (0, 255):
                continue
            self._raw(out, f"\top: {code:2d} len: {len(value):3d} ")
            if code == 53:
                n = value[0] if value else 0
                self._raw(out, f"DHCP recv {TYPE_NAMES.get(n, 'UNKNOWN')} ({n}) expect {expect}")
            elif code in IP_VALUE_OPTIONS:
                self._raw(out, _ip(value))
            elif code == 66:
                self._raw(out, f"{_printable(value)}[66]: {_option66_address(value)}\n")
            elif code == 43:
                self._raw(out, "\n")
                self._pxe(out, value, opts[index + 1:])
            self._end_op(out)

    def _pxe(self, out: list[str], body: bytes, following: Sequence[tuple[int, bytes]]) -> None:
        """Option 43: one ``\\t\\tPXE op:`` line per sub-option, then a hexdump of the boot menu (sub-option 9)
        and an empty line. The dump shows ``len`` bytes from the menu text (past its 3-byte type/length
        header), so it runs 3 bytes past the sub-option into what follows in the packet (observed:
        ``Raspberry Pi Boot`` + ``ff ff 1b``); beyond the packet the sim shows zeros (inferred)."""
        subs = _suboptions(body)
        for code, length, _start in subs:
            self._raw(out, f"\t\tPXE op: {code:2d} len: {length:3d} \n")
        menus = [(length, start) for code, length, start in subs if code == 9]
        if not menus:
            return
        length, start = menus[0]
        packet_tail = body + b"".join(bytes([c, len(v)]) + v for c, v in following if c not in (0, 255)) + b"\xff"
        window = packet_tail[start + 3:start + 3 + length]
        window += b"\0" * (length - len(window))
        for line in hexdump(window):
            self._raw(out, line + "\n")
        self._raw(out, "\n")

    def _ev_net_config(self, out: list[str], *, ip: str, mask: str, gw: str, tftp: str, **_: Any) -> None:
        self._log(out, f"NET {ip} {mask} gw {gw} tftp {tftp}")
        if self._after_arp:  # NET, ARP, NET, RX: … (netboot-success-01.log)
            self._after_arp = False
            self._rx_line(out)

    def _ev_arp(self, out: list[str], *, ip: str, mac: str, **_: Any) -> None:
        self._log(out, f"ARP {ip} {mac.lower()}")
        self._rx.arp_reply()
        self._after_arp = True

    def _ev_tftp_get(self, out: list[str], *, server_mac: str, server_ip: str, path: str, **_: Any) -> None:
        self._log(out, f"TFTP_GET: {server_mac.lower()} {server_ip} {path}")
        self._raw(out, "\n")  # "TFTP_GET: lines are followed by an empty line" (all netboot logs)
        self._rx_line(out)

    def _ev_tftp_complete(self, out: list[str], *, size: int, **_: Any) -> None:
        self._log(out, f"TFTP: complete {size}")
        self._rx.udp(size // TFTP_BLKSIZE[self.generation] + 2)  # OACK + DATA blocks (the last one short)
        self._rx_line(out)

    def _ev_tftp_error(self, out: list[str], *, code: int, message: str, **_: Any) -> None:
        self._rx.udp(1)
        self._log(out, f"TFTP {code}: {message}")

    def _ev_tftp_timeout(self, out: list[str], *, timeouts: int = 1, **_: Any) -> None:
        self._log(out, f"TFTP: disconnect: timeouts {timeouts}")

    def _ev_tftp_abort(self, out: list[str], **_: Any) -> None:
        return None

    def _ev_file_read(self, out: list[str], *, path: str, size: int, **_: Any) -> None:
        hnd = zlib.crc32(path.encode()) & 0x3FFF
        self._log(out, f"Read {path} bytes {size:8d} hnd 0x{hnd:08x}")

    def _ev_firmware_not_found(self, out: list[str], **_: Any) -> None:
        self._log(out, "Firmware not found")

    def _ev_netboot_failed(self, out: list[str], **_: Any) -> None:
        self._log(out, "NETBOOT init failed")
        self._net_up = False

    def _ev_network_stop(self, out: list[str], **_: Any) -> None:
        self._log(out, "Stopping network")  # the order of [NST]: the counters between stop and GENET STOP
        self._rx_line(out)
        self._log(out, "GENET STOP: 0")
        self._log(out, "NETBOOT CANCEL")
        self._net_up = False

    def _ev_usb_port_power(self, out: list[str], *, ms: int = 1000, **_: Any) -> None:
        """The warm-boot USB port-power reset of a 2021-11 build on an R1.1 board, and the xHC re-init [NST]."""
        xhc = "xHC ver: 256 HCS: 05000420 fc000031 00e70004 HCC: 002841eb"
        self._log(out, f"Reset USB port-power {ms} ms")
        for on in (0, 1):
            for port in range(1, 6):
                self._log(out, f"xhci_set_port_power {port} {on}")
        for line in ("XHCI-STOP", xhc, "USBSTS 18", "XHCI-STOP", xhc, "USBSTS 19", xhc,
                     "xHC ports 5 slots 32 intrs 4"):
            self._log(out, line)

    def _ev_usb_hub(self, out: list[str], **_: Any) -> None:
        """The on-board USB 2 hub (VIA VL805's downstream hub, VID 2109 PID 3431) [E654, E668, E559]."""
        for line in ("USB2[1] 400202e1 connected", "USB2 root HUB port 1 init",
                     "DEV [01:00] 2.16 000000:01 class 9 VID 2109 PID 3431", "HUB init [01:00] 2.16 000000:01"):
            self._log(out, line)

    def _ev_sd_card(self, out: list[str], *, card: Any, **_: Any) -> None:
        """Card detection and the card's layout. The host clock and first line are a 2024 build's [E654]; the
        line tails, the card registers and the switch to 4-bit 50 MHz are a 2020 build's [E282] (inferred for the
        others); ``MBR``/``lba``/``rsc`` in the 2021 strings' formats [STR], each four entries printed, the
        layout printed again after ``Partition: 0`` [E282, F1420]."""
        self._log(out, "SD HOST: 200000000 CTL0: 0x00800000 BUS: 400000 Hz actual: 390625 HZ div: 512 (256) "
                       "status: 0x1fff0000 delay: 1080")
        self._log(out, "CID: 009c534f55534430301068a5ae110141")
        self._log(out, "CSD: 400e00325b590000ec537f800a400000")
        self._log(out, "SD: bus-width: 4 spec: 2 SCR: 0x02058083 0x00000000")
        self._log(out, "SD HOST: 200000000 CTL0: 0x00800f04 BUS: 50000000 Hz actual: 50000000 HZ div: 4 (2) "
                       "status: 0x1fff0000 delay: 2")
        for start, count, kind in card.mbr:
            self._log(out, f"MBR: 0x{start:08x},{count:8d} type: 0x{kind:02x}")
        fat = (f"rsc {card.reserved} fat-sectors {card.fat_sectors} c-count {card.clusters} "
               f"c-size {card.cluster_sectors} r-dir {card.root_dir} r-sec {card.root_sectors} "
               f"r-entries {card.root_entries}")
        head = f"lba: {card.lba} oem: '{card.oem}' volume: '{card.volume:>12}'"
        for line in (head, fat, "PM_RSTS: 0x00001000", "Partition: 0", head, fat):
            self._log(out, line)

    def _ev_file_missing(self, out: list[str], *, path: str, **_: Any) -> None:
        self._log(out, f"{path} not found (6)")

    def _ev_insert_sd(self, out: list[str], **_: Any) -> None:
        self._log(out, "Insert SD-CARD")

    def _ev_restart(self, out: list[str], *, count: int, max: int, **_: Any) -> None:
        self._log(out, f"Restart {count} max {max}")

    def _ev_restart_limit(self, out: list[str], *, max: int, **_: Any) -> None:
        self._log(out, f"Restart limit ({max})exceeded. Watchdog reset ")

    def _ev_boot_stopped(self, out: list[str], **_: Any) -> None:
        self._log(out, "BOOT_STOPPED: 0x00000000 0x0")

    def _ev_start_firmware(self, out: list[str], *, file: str = "start4.elf", partition: int = 0,
                           boardrev: int = 0xC03111, address: int = START4_ADDRESS, **_: Any) -> None:
        sha, date, clock = FIRMWARE
        self._revision = boardrev  # the kernel's model line follows the board the firmware started on
        self._log(out, f"Firmware: {sha} {date} {clock}")
        self._log(out, f"0x{boardrev & 0xFFFFFFFF:08x} 0x00000000 0x00001fff")
        self._log(out, "MEM GPU: 76 ARM: 948 TOTAL: 1024")
        self._log(out, f"Starting {file} @ 0x{address:08x} partition {partition}")
        if self._net_up:  # a 2021 build printed it right after "Starting" [YOCTO]; inferred for netboot
            self._log(out, "Stopping network")
            self._net_up = False
        self._log(out, "PCI reset")
        self._log(out, "Stop display")
        self._log(out, "Display stopped")
        self._raw(out, "+\n\n")  # the lone "+" and the empty line before start4.elf's own output

    def _ev_mess(self, out: list[str], *, text: str, **_: Any) -> None:
        us = round(max(0.0, float(self._clock())) * 1e6)  # start4.elf's own clock, not the bootloader's
        h, rest = divmod(us, 3600 * 10**6)
        m, rest = divmod(rest, 60 * 10**6)
        s, us = divmod(rest, 10**6)
        self._raw(out, f"MESS:{h:02d}:{m:02d}:{s:02d}.{us:06d}:0: {text}\n")

    def _ev_kernel(self, out: list[str], *, cmdline: str, model: str | None = None, **_: Any) -> None:
        model = model or board_model(self._revision)
        for text in (
            "Booting Linux on physical CPU 0x0000000000 [0x410fd083]",
            "Linux version 6.8.0-1004-raspi (malina-sim) #4-Ubuntu SMP PREEMPT_DYNAMIC",
            f"Machine model: {model}",
            f"Kernel command line: {cmdline}",
        ):
            self._raw(out, f"[    0.000000] {text}\n")

    def _ev_sd_failed(self, out: list[str], **_: Any) -> None:
        return None

    def _ev_mode_failed(self, out: list[str], **_: Any) -> None:
        return None


class UartConsole:
    """An ``events.Uart``: every event rendered and written to ``stream`` at once (flushed)."""

    def __init__(self, log: UartLog, stream: BinaryIO) -> None:
        self.log = log
        self.stream = stream

    def event(self, name: str, /, **fields: Any) -> None:
        text = self.log.render(name, **fields)
        if text:
            self.stream.write(text.encode("utf-8", "replace"))
            self.stream.flush()


def open_console(generation: str, stream: BinaryIO, *, time_factor: float = 1.0,
                 clock: Callable[[], float] | None = None, exact_msecs: bool = False) -> UartConsole:
    """The board's UART: board time = real time since this call / ``time_factor`` (unless ``clock``)."""
    if time_factor <= 0:
        raise ValueError("time_factor must be > 0")
    if clock is None:
        start = time.monotonic()

        def clock() -> float:
            return (time.monotonic() - start) / time_factor

    return UartConsole(UartLog(generation, clock, exact_msecs=exact_msecs), stream)
