"""DHCPv4 on the wire: BOOTP messages, option TLVs (with RFC 3396 long options), option 82 (RFC 3046) and the
message types.

Pure functions only (bytes in, bytes or plain data out); every decoder raises :class:`DhcpWireError` with a
short reason on malformed input and never anything else.

BOOTP layout (RFC 2131 §2): a 236-byte fixed header, the magic cookie ``63 82 53 63``, then options.
Options are ``code, length, value`` TLVs; code 0 (pad) and 255 (end) have no length byte. Everything
after 255 is padding. A value longer than 255 bytes travels as several TLVs of the same code, and a decoder
joins every instance of a code, in order, into one value (RFC 3396 §5, §7): :func:`parse_options` keeps the
TLVs as they are on the wire (what a relay re-encodes), :func:`join_options` / :func:`get_option` give the
joined values (what a reader wants). Option 82 ("relay agent information") carries sub-options in the same
TLV shape without pad or end: 1 circuit-id, 2 remote-id, 9 vendor-specific (RFC 4243), each value at most 255
bytes and the whole option value at most 255 bytes.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

COOKIE = b"\x63\x82\x53\x63"
FIXED_LEN = 236
MIN_LEN = FIXED_LEN + len(COOKIE)
BOOTREQUEST, BOOTREPLY = 1, 2
BROADCAST_FLAG = 0x8000
OPT_PAD, OPT_END = 0, 255
OPT_MESSAGE_TYPE = 53
OPT_RELAY_AGENT = 82
MAX_TLV = 255  # the most one TLV's length byte can say
SUB_CIRCUIT_ID, SUB_REMOTE_ID, SUB_VENDOR_SPECIFIC = 1, 2, 9
SERVER_PORT, CLIENT_PORT = 67, 68
ZERO_IP = ipaddress.IPv4Address(0)

_FIXED = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")

Option = tuple[int, bytes]


class MessageType(IntEnum):
    """Option 53's values: RFC 2132 §9.6, FORCERENEW (RFC 3203), the lease queries (RFC 4388)."""

    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8
    FORCERENEW = 9
    LEASEQUERY = 10
    LEASEUNASSIGNED = 11
    LEASEUNKNOWN = 12
    LEASEACTIVE = 13


def type_name(value: int | None) -> str:
    """A message type as text: its name, ``TYPE<n>`` for a value no RFC names, ``BOOTP`` without option 53."""
    if value is None:
        return "BOOTP"
    try:
        return MessageType(value).name
    except ValueError:
        return f"TYPE{value}"


class DhcpWireError(ValueError):
    """Malformed BOOTP/DHCP data, option 82 or frame; the message says what is wrong."""


# -- option TLVs --------------------------------------------------------------------------------------------
def _walk(data: bytes) -> tuple[list[Option], int | None]:
    """The TLVs of an options area in wire order (pads skipped) and the offset of the end option (None: no
    end option). A truncated TLV is an error."""
    out: list[Option] = []
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == OPT_PAD:
            i += 1
            continue
        if code == OPT_END:
            return out, i
        if i + 1 >= n:
            raise DhcpWireError(f"option {code} at offset {i}: length byte missing")
        length = data[i + 1]
        if i + 2 + length > n:
            raise DhcpWireError(f"option {code} at offset {i}: length {length} runs past the end ({n - i - 2} left)")
        out.append((code, bytes(data[i + 2 : i + 2 + length])))
        i += 2 + length
    return out, None


def parse_options(data: bytes, *, require_end: bool = False) -> list[Option]:
    """Decode an options area into ``(code, value)`` TLVs in wire order (every instance of a repeated code
    kept); pads are skipped, 255 stops. A truncated TLV is an error; a missing end option is one only with
    ``require_end``."""
    out, end_at = _walk(data)
    if require_end and end_at is None:
        raise DhcpWireError("options are not terminated by the end option (255)")
    return out


def join_options(options: Iterable[Option]) -> dict[int, bytes]:
    """The options as one value per code: every instance of a code concatenated in wire order (RFC 3396 §5);
    codes in the order they first appear."""
    out: dict[int, bytes] = {}
    for code, value in options:
        out[code] = out.get(code, b"") + value
    return out


def decode_options(data: bytes) -> dict[int, bytes]:
    """An options area as one value per code (:func:`parse_options`, then :func:`join_options`)."""
    return join_options(parse_options(data))


def encode_options(options: Iterable[Option], *, end: bool = True) -> bytes:
    """Encode ``(code, value)`` pairs as TLVs in the given order (plus the end option). A value longer than
    255 bytes is split into consecutive TLVs of the same code, 255 bytes each but the last (RFC 3396 §7)."""
    parts: list[bytes] = []
    for code, value in options:
        if not 1 <= code <= 254:
            raise DhcpWireError(f"option code {code} is not encodable as a TLV (1..254)")
        chunks = [value[i : i + MAX_TLV] for i in range(0, len(value), MAX_TLV)] or [b""]
        parts += [bytes([code, len(chunk)]) + chunk for chunk in chunks]
    if end:
        parts.append(bytes([OPT_END]))
    return b"".join(parts)


def get_option(options: Sequence[Option], code: int) -> bytes | None:
    """The value of option ``code`` (all its instances joined, RFC 3396), or None when absent."""
    found = [v for c, v in options if c == code]
    return b"".join(found) if found else None


def without_option(options: Sequence[Option], code: int) -> list[Option]:
    """``options`` with every instance of ``code`` removed, order kept."""
    return [(c, v) for c, v in options if c != code]


def message_type(options: Sequence[Option]) -> int | None:
    """Option 53 as an int, or None when absent or not one byte long."""
    v = get_option(options, OPT_MESSAGE_TYPE)
    return v[0] if v is not None and len(v) == 1 else None


# -- option 82 ------------------------------------------------------------------------------------------------
def build_option82(subs: Mapping[int, bytes] | Sequence[Option]) -> bytes:
    """The value of option 82 from its sub-options (ascending code order for a mapping; as given otherwise)."""
    items = sorted(subs.items()) if isinstance(subs, Mapping) else list(subs)
    if not items:
        raise DhcpWireError("option 82 needs at least one sub-option")
    parts: list[bytes] = []
    for code, value in items:
        if not 0 <= code <= 255:
            raise DhcpWireError(f"option 82 sub-option code {code} is out of range")
        if len(value) > MAX_TLV:
            raise DhcpWireError(f"option 82 sub-option {code}: {len(value)} bytes exceed 255")
        parts.append(bytes([code, len(value)]) + value)
    out = b"".join(parts)
    if len(out) > MAX_TLV:
        raise DhcpWireError(f"option 82 would be {len(out)} bytes; the limit is 255")
    return out


def encode_option82(subs: Mapping[int, bytes] | Sequence[Option]) -> bytes:
    """Option 82 as a whole TLV: ``82, len`` followed by the sub-options."""
    value = build_option82(subs)
    return bytes([OPT_RELAY_AGENT, len(value)]) + value


def parse_option82_list(value: bytes) -> list[Option]:
    """Sub-options of an option-82 value in wire order (duplicates kept). No pad/end inside option 82."""
    out: list[Option] = []
    i, n = 0, len(value)
    while i < n:
        if i + 1 >= n:
            raise DhcpWireError(f"option 82: sub-option {value[i]} at offset {i} has no length byte")
        code, length = value[i], value[i + 1]
        if i + 2 + length > n:
            raise DhcpWireError(f"option 82: sub-option {code} length {length} runs past the end")
        out.append((code, bytes(value[i + 2 : i + 2 + length])))
        i += 2 + length
    return out


def parse_option82(value: bytes) -> dict[int, bytes]:
    """Sub-options of an option-82 value by code; a repeated sub-option is an error."""
    out: dict[int, bytes] = {}
    for code, v in parse_option82_list(value):
        if code in out:
            raise DhcpWireError(f"option 82: sub-option {code} appears twice")
        out[code] = v
    return out


def option82_query(subs: Mapping[int, bytes]) -> dict[str, str]:
    """The backend's query parameters for option-82 sub-options: ``{"sub82_1": "<hex>", ...}``."""
    return {f"sub82_{code}": subs[code].hex() for code in sorted(subs)}


def parse_id(text: str) -> bytes:
    """An option-82 id as written in configs: ``hex:0a0b…`` for binary, anything else as UTF-8 text."""
    if text.startswith("hex:"):
        try:
            raw = bytes.fromhex(text[4:])
        except ValueError as exc:
            raise DhcpWireError(f"bad hex id {text!r}: {exc}") from None
    else:
        raw = text.encode()
    if not raw:
        raise DhcpWireError("an option-82 id must not be empty")
    if len(raw) > MAX_TLV:
        raise DhcpWireError(f"an option-82 id must be at most 255 bytes, got {len(raw)}")
    return raw


# -- BOOTP messages -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bootp:
    """A decoded BOOTP/DHCP message. ``options`` are the TLVs in wire order, without pads and the end option
    (a long option split over several TLVs stays split: :meth:`option` joins it)."""

    op: int
    xid: int
    chaddr: bytes  # the full 16-byte field
    htype: int = 1
    hlen: int = 6
    hops: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: ipaddress.IPv4Address = ZERO_IP
    yiaddr: ipaddress.IPv4Address = ZERO_IP
    siaddr: ipaddress.IPv4Address = ZERO_IP
    giaddr: ipaddress.IPv4Address = ZERO_IP
    sname: bytes = b"\x00" * 64
    file: bytes = b"\x00" * 128
    options: list[Option] = field(default_factory=list)
    padding: int = 0  # bytes that followed the end option on the wire (kept to keep the length)

    @property
    def mac(self) -> bytes:
        """The client hardware address (chaddr cut to hlen, at most 16 bytes)."""
        return self.chaddr[: min(self.hlen, 16)]

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & BROADCAST_FLAG)

    @property
    def message_type(self) -> int | None:
        return message_type(self.options)

    @property
    def type_name(self) -> str:
        return type_name(self.message_type)

    def option(self, code: int) -> bytes | None:
        return get_option(self.options, code)

    def with_options(self, options: list[Option]) -> Bootp:
        return replace(self, options=options)


def decode_bootp(data: bytes) -> Bootp:
    """Decode a BOOTP/DHCP message (UDP payload). Needs the fixed header and the magic cookie."""
    if len(data) < MIN_LEN:
        raise DhcpWireError(f"{len(data)} bytes is too short for BOOTP with a DHCP cookie ({MIN_LEN})")
    (op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr, sname, bfile) = _FIXED.unpack_from(data)
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise DhcpWireError(f"op {op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)")
    if data[FIXED_LEN:MIN_LEN] != COOKIE:
        raise DhcpWireError(f"bad magic cookie {data[FIXED_LEN:MIN_LEN].hex()}")
    area = data[MIN_LEN:]
    options, end_at = _walk(area)
    padding = len(area) - end_at - 1 if end_at is not None else 0
    return Bootp(
        op=op, htype=htype, hlen=hlen, hops=hops, xid=xid, secs=secs, flags=flags,
        ciaddr=ipaddress.IPv4Address(ci), yiaddr=ipaddress.IPv4Address(yi),
        siaddr=ipaddress.IPv4Address(si), giaddr=ipaddress.IPv4Address(gi),
        chaddr=chaddr, sname=sname, file=bfile, options=options, padding=padding,
    )


def encode_bootp(msg: Bootp, *, min_length: int = 0) -> bytes:
    """Encode a message: fixed header, cookie, options, end, then ``msg.padding`` zero bytes, then more zeros
    up to ``min_length`` (BOOTP's traditional 300 bytes, or the original length of a relayed packet)."""
    if len(msg.chaddr) > 16:
        raise DhcpWireError("chaddr is longer than 16 bytes")
    head = _FIXED.pack(
        msg.op, msg.htype, msg.hlen, msg.hops & 0xFF, msg.xid & 0xFFFFFFFF, msg.secs, msg.flags,
        msg.ciaddr.packed, msg.yiaddr.packed, msg.siaddr.packed, msg.giaddr.packed,
        msg.chaddr.ljust(16, b"\x00"), msg.sname.ljust(64, b"\x00")[:64], msg.file.ljust(128, b"\x00")[:128],
    )
    out = head + COOKIE + encode_options(msg.options) + b"\x00" * msg.padding
    if len(out) < min_length:
        out += b"\x00" * (min_length - len(out))
    return out
