"""Pi 4 EEPROM bootloader UART output -> events.

Streaming: ``ConsoleParser.feed(text)`` / ``feed_bytes(data)`` return the events completed by that chunk (a
DHCP reply is complete when the first line that does not belong to it arrives; ``flush()`` forces it out,
e.g. when a live console has been quiet for a while), ``finish()`` flushes what is pending and appends the
``summary``. ``parse_text`` / ``parse_bytes`` do both at once. Nothing here raises on bad input: bytes are
decoded as UTF-8 with ``errors="replace"``, control characters, ANSI escape sequences and undecodable bytes
are dropped, and lines that match nothing are ignored.

Handled format generations (tests/data/pi4/SPEC.md section 0): the 2020-21 single-line banner with
trailing ``0x<serial> 0x<boardrev>``, the 2022 two-line banner (``BOOTMODE: … serial … boardrev …``), the
2024+ ``"%6.2f "`` timestamp prefix (values may jump backwards) with a ``BOOTSYS`` banner pair, TAB or space
indentation (HDMI transcriptions too, with their ``boot: mode …`` diagnostics line), ``op:`` lines with the
next line's timestamp glued to their end, CRLF, and binary garbage.

Events are plain dicts typed in ``harness.console.events``; see harness/console/README.md for the fields.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from harness.console.events import (
    BannerEvent,
    BootModeEvent,
    DhcpReplyEvent,
    Event,
    KernelEvent,
    LoginPromptEvent,
    SummaryEvent,
)

# "%6.2f " prefix of 2024+ builds (also a line holding only a glued timestamp, e.g. " 18.92").
_TS_PREFIX = re.compile(r"^[ \t]*\d{1,6}\.\d{2}(?:[ \t]+|$)")
# A timestamp glued to the end of an "op:" line (the op line had no newline of its own).
_TS_GLUED = re.compile(r"(?:^|[ \t]+)(\d{1,6}\.\d{2})(?:[ \t]+(.*))?$")
# ANSI/VT100 escape sequences (systemd and getty colour the console), then what a UART shows around power
# cycles: control characters and undecodable bytes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
_JUNK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")

_BANNER_ONE = re.compile(
    r"^RPi: (?P<stage>BOOTLOADER|BOOTSYS) release VERSION:(?P<version>\S+) DATE: (?P<date>.+?) "
    r"TIME: (?P<time>\S+) BOOTMODE: (?P<bootmode>0x[0-9a-fA-F]+) part: (?P<part>\d+)"
    r"(?: BUILD_TIMESTAMP=(?P<build_ts>\d+))?(?: 0x(?P<serial>[0-9a-fA-F]{1,8}))?"
    r"(?: 0x(?P<boardrev>[0-9a-fA-F]{1,8}))?"
)
_BANNER_HEAD = re.compile(
    r"^RPi: (?P<stage>BOOTLOADER|BOOTSYS) release VERSION:(?P<version>\S+) DATE: (?P<date>.+?) "
    r"TIME: (?P<time>\S+)\s*$"
)
_BANNER_TAIL = re.compile(
    r"^BOOTMODE: (?P<bootmode>0x[0-9a-fA-F]+) partition (?P<part>\d+)"
    r"(?: build-ts BUILD_TIMESTAMP=(?P<build_ts>\d+))?"
    r"(?: serial (?P<serial>[0-9a-fA-F]{1,8}))?(?: boardrev (?P<boardrev>[0-9a-fA-F]+))?"
)
_BOOT_MODE = re.compile(
    r"^Boot mode: (?P<mode>\S+) \((?P<nibble>[0-9a-fA-F]{1,2})\) order (?P<order>[0-9a-fA-F]+)"
)
# HDMI diagnostics screen variant: "boot: mode NETWORK 2 order f2 retry 0/0 restart 0/-1"
_BOOT_MODE_HDMI = re.compile(
    r"^boot: mode (?P<mode>\S+) (?P<nibble>[0-9a-fA-F]) order (?P<order>[0-9a-fA-F]+)"
)
_DHCP_SRC = re.compile(r"^DHCP src: (?P<mac>[0-9a-fA-F:]{17}) (?P<ip>\S+)")
_YI_ADDR = re.compile(r"^YI_ADDR (\S+)")
_SI_ADDR = re.compile(r"^SI_ADDR (\S+)")
_OP = re.compile(r"^(?P<pxe>PXE )?op: *(?P<op>\d+) len: *(?P<len>\d+)(?P<rest>.*)$")
_DHCP_TYPE = re.compile(r"DHCP recv (?P<type>[A-Z_]+) \((?P<n>\d+)\)")
_HEXDUMP = re.compile(r"^[0-9a-fA-F]{8}  ")
_NET4 = re.compile(r"^NET (?P<ip>\S+) (?P<mask>\S+) gw (?P<gw>\S+) tftp (?P<tftp>\S+)\s*$")
_NET6 = re.compile(r"^NET (?P<ip>\S+) tftp (?P<tftp>\S+)\s*$")
_TFTP_GET = re.compile(r"^TFTP_GET: (?P<mac>[0-9a-fA-F:]{17}) (?P<ip>\S+) (?P<path>\S+)")
_TFTP_ERR = re.compile(r"^TFTP (?P<code>\d+): ?(?P<message>.*?)\s*$")
_FW_NOT_FOUND = re.compile(r"^Firmware not found")
_NETBOOT_FAILED = re.compile(r"^NETBOOT init failed")
_START_FW = re.compile(
    r"^Starting (?P<file>\S+\.elf)(?: @ (?P<addr>0x[0-9a-fA-F]+))?(?: partition (?P<part>\d+))?"
)
_KERNEL = re.compile(r"^\[ *\d+\.\d+\] ")
_LINK = re.compile(r"^LINK STATUS: speed: (?P<speed>\d+) (?P<duplex>\S+) duplex")
_NETBOOT_CANCEL = re.compile(r"^NETBOOT CANCEL")
_PORT_POWER = re.compile(r"^Reset USB port-power (?P<ms>\d+) ms")
_USB_HUB = re.compile(r"^(?:USB\d root HUB port (?P<port>\d+) init|HUB init (?P<dev>\[[0-9a-fA-F:]+\] .+?))\s*$")
_MBR = re.compile(r"^MBR: 0x(?P<start>[0-9a-fA-F]+), *(?P<sectors>\d+) type: 0x(?P<type>[0-9a-fA-F]+)")
_FILE_READ = re.compile(r"^Read (?P<path>\S+) bytes +(?P<size>\d+)")
# A console line longer than this is garbage (real lines are < 1 KiB): it is parsed as it stands and dropped,
# so that a stream without newlines cannot grow the buffer or the work per chunk without bound.
MAX_LINE = 64 * 1024
_LOGIN_MAX = 256  # a partial line is checked for a login prompt only while it is this short
_LOGIN = re.compile(r"^(?P<host>\S+) login: ?$")


def _clean(raw: str) -> str:
    """One physical line -> its text without CR, escapes, junk, timestamp prefix and surrounding blanks."""
    line = _JUNK.sub("", _ANSI.sub("", raw.replace("\r", "")))
    line = _TS_PREFIX.sub("", line, count=1)
    return line.strip()


class ConsoleParser:
    """Incremental parser; feed it text or bytes as they arrive. One parser per console stream."""

    def __init__(self) -> None:
        self._parts: list[str] = []  # the current partial line, in chunks
        self._part_len = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._reply: DhcpReplyEvent | None = None
        self._banner_head: dict[str, Any] | None = None
        self._kernel_seen = False  # a kernel line since the last banner
        self._any_kernel = False
        self._partial_login = False
        self._boot_modes: list[BootModeEvent] = []
        self._tftp_paths: list[str] = []
        self._dhcp_types: list[str | None] = []
        self._serial: str | None = None
        self._finished = False

    # -- public API ----------------------------------------------------------------------------------
    def feed(self, text: str) -> list[Event]:
        """Events completed by ``text`` (any chunking: partial lines wait for the rest)."""
        out: list[Event] = []
        if "\n" in text:
            first, *rest = text.split("\n")
            lines = ["".join([*self._parts, first]), *rest]
            tail = lines.pop()
            self._parts, self._part_len = [tail], len(tail)
            for raw in lines:
                self._complete_line(raw, out)
        else:
            self._parts.append(text)
            self._part_len += len(text)
        if self._part_len > MAX_LINE:
            self._complete_line("".join(self._parts), out)
            self._parts, self._part_len = [], 0
        # A login prompt has no newline after it: report it as soon as it is complete on the wire.
        if not self._partial_login and 0 < self._part_len <= _LOGIN_MAX:
            partial = _clean("".join(self._parts))
            if _LOGIN.match(partial):
                self._flush_pending(out)
                out.append(self._login_event(partial))
                self._partial_login = True
        return out

    def _complete_line(self, raw: str, out: list[Event]) -> None:
        was_partial_login = self._partial_login
        self._partial_login = False
        self._line(raw, out, login_already=was_partial_login)

    def feed_bytes(self, data: bytes) -> list[Event]:
        return self.feed(self._decoder.decode(data))

    def flush(self) -> list[Event]:
        """Emit a DHCP reply or banner still waiting for its next line (a quiet live console)."""
        out: list[Event] = []
        self._flush_pending(out)
        return out

    def finish(self) -> list[Event]:
        """End of input: the partial last line, anything pending, then the ``summary``. Idempotent."""
        if self._finished:
            return []
        self._finished = True
        out: list[Event] = []
        tail = self._decoder.decode(b"", final=True)
        rest = "".join([*self._parts, tail])
        self._parts, self._part_len = [], 0
        if rest:
            self._line(rest, out, login_already=self._partial_login)
        self._flush_pending(out)
        out.append(self._summary())
        return out

    # -- internals -----------------------------------------------------------------------------------
    def _line(self, raw: str, out: list[Event], *, login_already: bool = False) -> None:
        line = _clean(raw)
        if self._reply is not None and self._reply_line(line, out):
            return
        if self._banner_head is not None:
            head, self._banner_head = self._banner_head, None
            tail = _BANNER_TAIL.match(line)
            if tail:
                self._emit_banner(head, tail.groupdict(), out)
                return
            self._emit_banner(head, {}, out)
        if line:
            self._top_line(line, out, login_already)

    def _top_line(self, line: str, out: list[Event], login_already: bool) -> None:
        m = _BANNER_ONE.match(line)
        if m:
            g = m.groupdict()
            self._emit_banner(g, g, out)
            return
        m = _BANNER_HEAD.match(line)
        if m:
            self._banner_head = m.groupdict()
            return
        m = _BOOT_MODE.match(line) or _BOOT_MODE_HDMI.match(line)
        if m:
            ev: BootModeEvent = {"event": "boot_mode", "mode": m["mode"], "nibble": int(m["nibble"], 16),
                                 "order": m["order"].lower()}
            self._boot_modes.append(ev)
            out.append(ev)
            return
        m = _DHCP_SRC.match(line)
        if m:
            self._reply = {"event": "dhcp_reply", "server_mac": m["mac"].lower(), "server_ip": m["ip"],
                           "type": None, "yiaddr": None, "options": {}, "siaddr": None, "pxe_options": {}}
            return
        m = _NET4.match(line)
        if m:
            out.append({"event": "net_config", "ip": m["ip"], "mask": m["mask"], "gw": m["gw"],
                        "tftp": m["tftp"]})
            return
        m = _NET6.match(line)
        if m:
            out.append({"event": "net_config", "ip": m["ip"], "mask": None, "gw": None, "tftp": m["tftp"]})
            return
        m = _TFTP_GET.match(line)
        if m:
            self._tftp_paths.append(m["path"])
            out.append({"event": "tftp_get", "server_ip": m["ip"], "path": m["path"],
                        "server_mac": m["mac"].lower()})
            return
        m = _TFTP_ERR.match(line)
        if m:
            out.append({"event": "tftp_error", "code": int(m["code"]), "message": m["message"]})
            return
        if _FW_NOT_FOUND.match(line):
            out.append({"event": "firmware_not_found"})
            return
        if _NETBOOT_FAILED.match(line):
            out.append({"event": "netboot_failed"})
            return
        m = _START_FW.match(line)
        if m:
            out.append({"event": "start_firmware", "file": m["file"], "address": m["addr"],
                        "partition": int(m["part"]) if m["part"] is not None else None})
            return
        if self._hardware_line(line, out):
            return
        if _KERNEL.match(line):
            if not self._kernel_seen:
                self._kernel_seen = self._any_kernel = True
                kernel: KernelEvent = {"event": "kernel", "line": line}
                out.append(kernel)
            return
        if _LOGIN.match(line) and not login_already:
            out.append(self._login_event(line))

    @staticmethod
    def _hardware_line(line: str, out: list[Event]) -> bool:
        """Link, network stop, USB and card lines (issue 18: the kinds real logs print around the boot)."""
        m = _LINK.match(line)
        if m:
            out.append({"event": "link_status", "speed": int(m["speed"]), "duplex": m["duplex"]})
        elif _NETBOOT_CANCEL.match(line):
            out.append({"event": "netboot_cancel"})
        elif m := _PORT_POWER.match(line):
            out.append({"event": "usb_port_power", "ms": int(m["ms"])})
        elif m := _USB_HUB.match(line):
            out.append({"event": "usb_hub", "hub": f"root port {m['port']}" if m["port"] else m["dev"]})
        elif m := _MBR.match(line):
            out.append({"event": "mbr_partition", "start": int(m["start"], 16), "sectors": int(m["sectors"]),
                        "type": int(m["type"], 16)})
        elif m := _FILE_READ.match(line):
            out.append({"event": "file_read", "path": m["path"], "size": int(m["size"])})
        else:
            return False
        return True

    def _reply_line(self, line: str, out: list[Event]) -> bool:
        """Add ``line`` to the open DHCP reply; False (reply emitted) when it does not belong to it."""
        reply = self._reply
        assert reply is not None
        if not line or _HEXDUMP.match(line) or line == "OPTIONS:-":
            return True
        m = _YI_ADDR.match(line)
        if m:
            reply["yiaddr"] = m[1]
            return True
        m = _SI_ADDR.match(line)
        if m:
            reply["siaddr"] = m[1]
            return True
        m = _OP.match(line)
        if m:
            value, glued_rest = _split_glued(m["rest"])
            table = reply["pxe_options"] if m["pxe"] else reply["options"]
            table[str(int(m["op"]))] = value
            if not m["pxe"] and int(m["op"]) == 53:
                t = _DHCP_TYPE.search(value)
                if t:
                    reply["type"] = t["type"]
            if glued_rest:
                self._line(glued_rest, out)
            return True
        self._flush_reply(out)
        return False

    def _flush_reply(self, out: list[Event]) -> None:
        if self._reply is not None:
            self._dhcp_types.append(self._reply["type"])
            out.append(self._reply)
            self._reply = None

    def _flush_pending(self, out: list[Event]) -> None:
        self._flush_reply(out)
        if self._banner_head is not None:
            head, self._banner_head = self._banner_head, None
            self._emit_banner(head, {}, out)

    def _emit_banner(self, head: dict[str, Any], tail: dict[str, Any], out: list[Event]) -> None:
        serial = tail.get("serial")
        boardrev = tail.get("boardrev")
        ev: BannerEvent = {
            "event": "banner",
            "version": head["version"],
            "serial": f"{int(serial, 16):08x}" if serial else None,
            "boardrev": f"{int(boardrev, 16):x}" if boardrev else None,
            "stage": "BOOTSYS" if head["stage"] == "BOOTSYS" else "BOOTLOADER",
            "date": head["date"],
            "time": head["time"],
        }
        if ev["serial"] and self._serial is None:
            self._serial = ev["serial"]
        self._kernel_seen = False  # a new boot: its kernel's first line is reported again
        out.append(ev)

    @staticmethod
    def _login_event(line: str) -> LoginPromptEvent:
        m = _LOGIN.match(line)
        return {"event": "login_prompt", "host": m["host"] if m else ""}

    def _summary(self) -> SummaryEvent:
        boot_order = None
        if self._boot_modes:
            first = self._boot_modes[0]
            boot_order = f"0x{(int(first['order'], 16) << 4) | first['nibble']:x}"
        return {
            "event": "summary",
            "boot_order": boot_order,
            "modes": [b["mode"] for b in self._boot_modes],
            "tftp_paths": list(self._tftp_paths),
            "serial": self._serial,
            "dhcp_types": list(self._dhcp_types),
            "kernel": self._any_kernel,
        }


def _split_glued(rest: str) -> tuple[str, str]:
    """``" 10.14.0.1 19.69"`` -> ("10.14.0.1", "").

    Text after a glued timestamp is returned to be parsed as the next line."""
    m = _TS_GLUED.search(rest)
    if m is None:
        return rest.strip(), ""
    return rest[: m.start()].strip(), (m[2] or "").strip()


def parse_text(text: str) -> list[Event]:
    parser = ConsoleParser()
    return parser.feed(text) + parser.finish()


def parse_bytes(data: bytes) -> list[Event]:
    parser = ConsoleParser()
    return parser.feed_bytes(data) + parser.finish()
