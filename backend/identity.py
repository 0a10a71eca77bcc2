"""Identity values: option-82 ids in hex, MAC addresses, Pi serials and the option-97 GUID.

Everything is normalised once at the edge (lower-case hex without separators, ``aa:bb:..`` MACs, 8-hex-digit
serials) so that the database and the comparisons only ever see one spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")
MAX_SUBOPTION_BYTES = 255
FOURCCS = (b"RPi4", b"4iPR")


class IdentityError(ValueError):
    """A value that is not a valid MAC, serial, hex id or GUID; the message says what was expected."""


def norm_hex(value: str, what: str = "value", max_bytes: int = MAX_SUBOPTION_BYTES) -> str:
    """Lower-case hex without separators (``:``, ``-``, ``.`` and spaces are dropped)."""
    text = re.sub(r"[:\-. ]", "", value.strip()).lower()
    if not HEX_RE.match(text):
        raise IdentityError(f"{what} must be hex bytes like 4769312f302f31: {value!r}")
    if len(text) // 2 > max_bytes:
        raise IdentityError(f"{what} is longer than {max_bytes} bytes")
    return text


def opaque_to_hex(value: str, what: str = "id") -> str:
    """A lab-style option-82 id (plain text, or ``hex:0a0b..``) as the hex the hook sends."""
    if value.startswith("hex:"):
        out = norm_hex(value[4:], what)
    else:
        try:
            out = value.encode("utf-8").hex()
        except UnicodeEncodeError:
            raise IdentityError(f"{what} is not valid text: {value!r}") from None
        if len(out) // 2 > MAX_SUBOPTION_BYTES:
            raise IdentityError(f"{what} is longer than {MAX_SUBOPTION_BYTES} bytes")
    if not out:
        raise IdentityError(f"{what} is empty")
    return out


def norm_mac(value: str) -> str:
    """``dc:a6:32:00:00:01`` from any of ``DC-A6-32-00-00-01``, ``dca632000001``, ``dca6.3200.0001``."""
    text = re.sub(r"[:\-. ]", "", value.strip()).lower()
    if not re.fullmatch(r"[0-9a-f]{12}", text):
        raise IdentityError(f"not a MAC address like dc:a6:32:00:00:01: {value!r}")
    return ":".join(text[i : i + 2] for i in range(0, 12, 2))


def norm_serial(value: str) -> str:
    """The Pi serial as 8 hex digits: the bootloader's ``6e87a417``, /proc/cpuinfo's ``100000006e87a417``."""
    text = value.strip().lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{1,16}", text):
        raise IdentityError(f"a Pi serial is hex like 6e87a417 (up to 16 digits): {value!r}")
    return text.rjust(8, "0")[-8:]


@dataclass(frozen=True)
class Guid:
    """What option 97 says about the board. ``serial_raw`` is in wire order: the firmware's byte order for the
    serial is not known, so comparisons accept it and its reversal."""

    raw: str
    fourcc: str
    mac_lsb: bytes | None
    serial_raw: bytes | None

    def serial_candidates(self) -> tuple[str, ...]:
        if self.serial_raw is None:
            return ()
        wire_order = self.serial_raw.hex()
        reversed_order = self.serial_raw[::-1].hex()
        return (wire_order,) if wire_order == reversed_order else (wire_order, reversed_order)

    def matches_serial(self, serial: str) -> bool:
        return self.serial_raw is None or serial in self.serial_candidates()

    def matches_mac(self, mac: str) -> bool:
        if self.mac_lsb is None:
            return True
        tail = bytes.fromhex(mac.replace(":", ""))[-4:]
        return self.mac_lsb in (tail, tail[::-1])


def parse_guid(value: str) -> Guid:
    """Option 97 as hex: type byte 0x00 then 16 bytes. Two Pi layouts are understood:

    - ``RPi4``/``4iPR`` fourcc, 4-byte board revision, 4 MAC low bytes, 4-byte serial;
    - the old layout (``DHCP_OPTION97=0``): the serial repeated four times.

    Anything else (a custom prefix) is kept but carries no MAC or serial to check.
    """
    text = norm_hex(value, "guid", max_bytes=64)
    raw = bytes.fromhex(text)
    if len(raw) == 17 and raw[0] == 0:
        body = raw[1:]
    elif len(raw) == 16:
        body = raw
    else:
        raise IdentityError(f"option 97 must be 17 bytes (type 0 + 16-byte GUID), got {len(raw)}")
    fourcc = body[:4]
    if fourcc in FOURCCS:
        return Guid(text, fourcc.decode(), body[8:12], body[12:16])
    if body[0:4] == body[4:8] == body[8:12] == body[12:16]:
        return Guid(text, "serial4x", None, body[:4])
    return Guid(text, body[:4].hex(), None, None)


def port_key(sub82_1: str, sub82_2: str, sub82_9: str = "") -> str:
    """The database key of a switch port (hex ids joined by ``/``, which hex never contains)."""
    return f"{sub82_1}/{sub82_2}/{sub82_9}"
