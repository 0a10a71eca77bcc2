"""DHCPv4 on the wire: BOOTP messages, option TLVs, option 82 (RFC 3046) and Ethernet/IPv4/UDP frames.

Pure functions only (bytes in, bytes or plain data out); every decoder raises :class:`DhcpWireError` with a
short reason on malformed input and never anything else. Used by the relay switch (``harness.sim.relay``)
and by the simulated board.

BOOTP layout (RFC 2131 §2): a 236-byte fixed header, the magic cookie ``63 82 53 63``, then options.
Options are ``code, length, value`` TLVs; code 0 (pad) and 255 (end) have no length byte. Everything
after 255 is padding. Option 82 ("relay agent information") carries sub-options in the same TLV shape:
1 circuit-id, 2 remote-id, 9 vendor-specific (RFC 4243), each value at most 255 bytes and the whole
option value at most 255 bytes.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

COOKIE = b"\x63\x82\x53\x63"
FIXED_LEN = 236
MIN_LEN = FIXED_LEN + len(COOKIE)
BOOTREQUEST, BOOTREPLY = 1, 2
BROADCAST_FLAG = 0x8000
OPT_PAD, OPT_END = 0, 255
OPT_MESSAGE_TYPE = 53
OPT_RELAY_AGENT = 82
SUB_CIRCUIT_ID, SUB_REMOTE_ID, SUB_VENDOR_SPECIFIC = 1, 2, 9
SERVER_PORT, CLIENT_PORT = 67, 68

MESSAGE_TYPES = {
    1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM",
}

_FIXED = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
_ETH = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
ETH_P_IP = 0x0800
IPPROTO_UDP = 17
BROADCAST_MAC = b"\xff" * 6
ZERO_IP = ipaddress.IPv4Address(0)
LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")

Option = tuple[int, bytes]


class DhcpWireError(ValueError):
    """Malformed BOOTP/DHCP data, option 82 or frame; the message says what is wrong."""


# -- option TLVs --------------------------------------------------------------------------------------------
def parse_options(data: bytes, *, require_end: bool = False) -> list[Option]:
    """Decode an options area into ``(code, value)`` pairs in wire order; pads are skipped, 255 stops.

    A truncated TLV is an error; a missing end option is one only with ``require_end``.
    """
    out: list[Option] = []
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == OPT_PAD:
            i += 1
            continue
        if code == OPT_END:
            return out
        if i + 1 >= n:
            raise DhcpWireError(f"option {code} at offset {i}: length byte missing")
        length = data[i + 1]
        if i + 2 + length > n:
            raise DhcpWireError(f"option {code} at offset {i}: length {length} runs past the end ({n - i - 2} left)")
        out.append((code, bytes(data[i + 2 : i + 2 + length])))
        i += 2 + length
    if require_end:
        raise DhcpWireError("options are not terminated by the end option (255)")
    return out


def encode_options(options: Iterable[Option], *, end: bool = True) -> bytes:
    """Encode ``(code, value)`` pairs as TLVs (plus the end option). Values over 255 bytes are refused."""
    parts: list[bytes] = []
    for code, value in options:
        if not 1 <= code <= 254:
            raise DhcpWireError(f"option code {code} is not encodable as a TLV (1..254)")
        if len(value) > 255:
            raise DhcpWireError(f"option {code}: value of {len(value)} bytes exceeds 255")
        parts.append(bytes([code, len(value)]) + value)
    if end:
        parts.append(bytes([OPT_END]))
    return b"".join(parts)


def get_option(options: Sequence[Option], code: int) -> bytes | None:
    """The value of the first option ``code``, or None."""
    for c, v in options:
        if c == code:
            return v
    return None


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
        if len(value) > 255:
            raise DhcpWireError(f"option 82 sub-option {code}: {len(value)} bytes exceed 255")
        parts.append(bytes([code, len(value)]) + value)
    out = b"".join(parts)
    if len(out) > 255:
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
    if len(raw) > 255:
        raise DhcpWireError(f"an option-82 id must be at most 255 bytes, got {len(raw)}")
    return raw


# -- BOOTP messages -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bootp:
    """A decoded BOOTP/DHCP message. ``options`` in wire order, without pads and the end option."""

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
        t = self.message_type
        return "BOOTP" if t is None else MESSAGE_TYPES.get(t, f"TYPE{t}")

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
    options = parse_options(area)
    end_at = _end_offset(area)
    padding = len(area) - end_at - 1 if end_at is not None else 0
    return Bootp(
        op=op, htype=htype, hlen=hlen, hops=hops, xid=xid, secs=secs, flags=flags,
        ciaddr=ipaddress.IPv4Address(ci), yiaddr=ipaddress.IPv4Address(yi),
        siaddr=ipaddress.IPv4Address(si), giaddr=ipaddress.IPv4Address(gi),
        chaddr=chaddr, sname=sname, file=bfile, options=options, padding=padding,
    )


def _end_offset(area: bytes) -> int | None:
    i = 0
    while i < len(area):
        code = area[i]
        if code == OPT_END:
            return i
        i += 1 if code == OPT_PAD else 2 + area[i + 1]
    return None


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


# -- Ethernet / IPv4 / UDP ------------------------------------------------------------------------------------
def checksum16(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(
    *,
    src_mac: bytes,
    dst_mac: bytes,
    src_ip: ipaddress.IPv4Address,
    dst_ip: ipaddress.IPv4Address,
    sport: int,
    dport: int,
    payload: bytes,
    ip_id: int = 0,
    ttl: int = 64,
) -> bytes:
    """An Ethernet II frame carrying IPv4/UDP with valid header and UDP checksums (a computed 0 is sent as
    0xffff, RFC 768)."""
    if len(src_mac) != 6 or len(dst_mac) != 6:
        raise DhcpWireError("MAC addresses must be 6 bytes")
    udp_len = _UDP.size + len(payload)
    if 20 + udp_len > 0xFFFF:
        raise DhcpWireError(f"payload of {len(payload)} bytes does not fit one IPv4 datagram")
    pseudo = src_ip.packed + dst_ip.packed + struct.pack("!BBH", 0, IPPROTO_UDP, udp_len)
    csum = checksum16(pseudo + _UDP.pack(sport, dport, udp_len, 0) + payload) or 0xFFFF
    udp = _UDP.pack(sport, dport, udp_len, csum) + payload
    ip_head = _IPV4.pack(0x45, 0, 20 + udp_len, ip_id & 0xFFFF, 0, ttl, IPPROTO_UDP, 0, src_ip.packed, dst_ip.packed)
    ip_head = ip_head[:10] + struct.pack("!H", checksum16(ip_head)) + ip_head[12:]
    return _ETH.pack(dst_mac, src_mac, ETH_P_IP) + ip_head + udp


@dataclass(frozen=True)
class UdpFrame:
    dst_mac: bytes
    src_mac: bytes
    src_ip: ipaddress.IPv4Address
    dst_ip: ipaddress.IPv4Address
    sport: int
    dport: int
    payload: bytes
    ttl: int


def parse_udp_frame(frame: bytes) -> UdpFrame:
    """Decode an Ethernet II / IPv4 / UDP frame (no VLAN tags, no fragments); checks lengths and the IPv4
    header checksum."""
    if len(frame) < _ETH.size + 20 + _UDP.size:
        raise DhcpWireError(f"frame of {len(frame)} bytes is too short for Ethernet/IPv4/UDP")
    dst_mac, src_mac, ethertype = _ETH.unpack_from(frame)
    if ethertype != ETH_P_IP:
        raise DhcpWireError(f"ethertype 0x{ethertype:04x} is not IPv4")
    ip = frame[_ETH.size :]
    vihl, _tos, total, _ident, frag, ttl, proto, _csum, src, dst = _IPV4.unpack_from(ip)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20:
        raise DhcpWireError("not an IPv4 header")
    if total < ihl + _UDP.size or total > len(ip):
        raise DhcpWireError(f"IPv4 total length {total} does not match the frame ({len(ip)} bytes)")
    if checksum16(ip[:ihl]) != 0:
        raise DhcpWireError("bad IPv4 header checksum")
    if frag & 0x3FFF:
        raise DhcpWireError("IPv4 fragments are not handled")
    if proto != IPPROTO_UDP:
        raise DhcpWireError(f"IP protocol {proto} is not UDP")
    sport, dport, ulen, _ucsum = _UDP.unpack_from(ip, ihl)
    if ulen < _UDP.size or ihl + ulen > total:
        raise DhcpWireError(f"UDP length {ulen} does not match the IPv4 length {total}")
    return UdpFrame(
        dst_mac=dst_mac, src_mac=src_mac,
        src_ip=ipaddress.IPv4Address(src), dst_ip=ipaddress.IPv4Address(dst),
        sport=sport, dport=dport, payload=bytes(ip[ihl + _UDP.size : ihl + ulen]), ttl=ttl,
    )


def mac_text(mac: bytes) -> str:
    return mac.hex(":")


def parse_mac(text: str) -> bytes:
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise DhcpWireError(f"{text!r} is not a 6-byte MAC address")
    return raw
