"""DHCP as the Pi 4 EEPROM bootloader speaks it: the frames, byte for byte, and their decoding.

Everything here is pure (bytes in, bytes out); the exchange itself lives in ``dora.py``.
Reference: tests/data/pi4/SPEC.md section (a) and the decodes in tests/data/pi4/wire/; bracketed keys
([W-E58], …) name the sources listed at the end of SPEC.md.

DISCOVER (observed [W-E58, W-T183]): Ethernet broadcast from the board MAC, IPv4 0.0.0.0 → 255.255.255.255,
TTL 64, a random non-zero IP ID, no DF; UDP 68 → 67 with a checksum; BOOTP op 1, secs 0, flags 0 (the
broadcast bit clear), all addresses 0, empty sname/file, then exactly these options in this order:
53=1, 55 (14 codes), 93=0 ("IA x86 PC"), 94=01 02 01, 97 (17 bytes), 60 "PXEClient:Arch:00000:UNDI:002001",
255 — no padding: BOOTP payload 322 bytes, UDP length 330, frame 364.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from dataclasses import dataclass, field

from harness.sim.bootloader.config import OPTION97_RPI4

DHCP_COOKIE = b"\x63\x82\x53\x63"
PARAMETER_REQUEST_LIST = bytes([1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135])
VENDOR_CLASS = b"PXEClient:Arch:00000:UNDI:002001"
CLIENT_PORT = 68
SERVER_PORT = 67
BROADCAST_MAC = b"\xff" * 6

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
TYPE_NAMES = {
    1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NACK", 7: "RELEASE", 8: "INFORM",
    10: "LEASE_QUERY",
}


class DhcpDecodeError(ValueError):
    """A frame is not a well-formed BOOTP/DHCP reply."""


def option97(serial: int, revision: int, mac: bytes, setting: int = OPTION97_RPI4) -> bytes:
    """Option 97's 17 bytes: type 0 + a 16-byte GUID.

    ``setting`` is ``DHCP_OPTION97``: the default is the ``RPi4`` fourcc, 0 the old layout (the serial
    four times), any other value a custom 4-byte prefix in place of the fourcc [DOC-BL].
    Byte order follows the newest observation (a 2023 CM4 [W-CMP16]): the fourcc
    big-endian ("4iPR" on the wire), the board revision little-endian, the MAC's 4 least significant bytes
    in wire order. The serial's byte order is not observed in the new layout (only its first byte);
    little-endian is used, as in the old layout, where the late-2019 capture [W-E58] shows it little-endian.
    """
    if len(mac) != 6:
        raise ValueError("mac must be 6 bytes")
    serial_le = struct.pack("<I", serial & 0xFFFFFFFF)
    if setting == 0:
        guid = serial_le * 4
    else:
        guid = struct.pack(">I", setting) + struct.pack("<I", revision & 0xFFFFFFFF) + mac[2:] + serial_le
    return b"\x00" + guid


def _opt(code: int, value: bytes) -> bytes:
    if len(value) > 255:
        raise ValueError(f"option {code} longer than 255 bytes")
    return bytes([code, len(value)]) + value


def _bootp(op_type: int, xid: int, mac: bytes, options: bytes) -> bytes:
    head = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        1, 1, 6, 0, xid, 0, 0,  # op, htype, hlen, hops, xid, secs 0, flags 0 (broadcast bit clear)
        b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4,
        mac + b"\0" * 10, b"", b"",
    )
    return head + DHCP_COOKIE + _opt(53, bytes([op_type])) + options + b"\xff"


def discover_payload(xid: int, mac: bytes, opt97: bytes) -> bytes:
    """The BOOTP payload of the bootloader's DISCOVER (322 bytes)."""
    opts = (
        _opt(55, PARAMETER_REQUEST_LIST)
        + _opt(93, b"\x00\x00")
        + _opt(94, b"\x01\x02\x01")
        + _opt(97, opt97)
        + _opt(60, VENDOR_CLASS)
    )
    return _bootp(DISCOVER, xid, mac, opts)


def request_payload(xid: int, mac: bytes, opt97: bytes, requested: str, server_id: str | None) -> bytes:
    """The bootloader's REQUEST. Observed only that it lacks option 60 [E82/E87]; a full decode was never
    found, so options 50/54 (RFC 2131 SELECTING state), keeping 55/93/94/97 and sending it broadcast from
    0.0.0.0 are unverified choices (the documented DHCP behaviour)."""
    opts = _opt(50, ipaddress.IPv4Address(requested).packed)
    if server_id:
        opts += _opt(54, ipaddress.IPv4Address(server_id).packed)
    opts += _opt(55, PARAMETER_REQUEST_LIST) + _opt(93, b"\x00\x00") + _opt(94, b"\x01\x02\x01")
    opts += _opt(97, opt97)
    return _bootp(REQUEST, xid, mac, opts)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(
    src_mac: bytes,
    payload: bytes,
    *,
    src_ip: str = "0.0.0.0",
    dst_ip: str = "255.255.255.255",
    dst_mac: bytes = BROADCAST_MAC,
    sport: int = CLIENT_PORT,
    dport: int = SERVER_PORT,
    ip_id: int | None = None,
) -> bytes:
    """Ethernet + IPv4 (TTL 64, no DF, random non-zero ID) + UDP (checksummed; a computed 0 is sent as
    0xffff [RN 2020-12-11]) around ``payload``."""
    ident = ip_id if ip_id is not None else random.randint(1, 0xFFFF)
    src = ipaddress.IPv4Address(src_ip).packed
    dst = ipaddress.IPv4Address(dst_ip).packed
    udp_len = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
    udp_head = struct.pack("!HHHH", sport, dport, udp_len, 0)
    csum = _checksum(pseudo + udp_head + payload) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, udp_len, csum) + payload
    ip_head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident, 0, 64, 17, 0, src, dst)
    ip_head = ip_head[:10] + struct.pack("!H", _checksum(ip_head)) + ip_head[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip_head + udp


@dataclass
class DhcpReply:
    """A decoded server reply, with what the bootloader prints about it."""

    src_mac: str
    src_ip: str
    xid: int
    yiaddr: str
    siaddr: str
    chaddr: bytes
    options: list[tuple[int, bytes]] = field(default_factory=list)

    def get(self, code: int) -> bytes | None:
        for c, v in self.options:
            if c == code:
                return v
        return None

    @property
    def msg_type(self) -> int:
        v = self.get(53)
        return v[0] if v else 0

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.msg_type, str(self.msg_type))

    def ip_option(self, code: int) -> str | None:
        v = self.get(code)
        if v is None or len(v) < 4:
            return None
        return str(ipaddress.IPv4Address(v[:4]))

    @property
    def tftp_option(self) -> str | None:
        """Option 66 as the bootloader reads it: an ASCII dotted quad [NST]; None when absent or not an
        address (a host name: the bootloader has no resolver)."""
        v = self.get(66)
        if v is None:
            return None
        text = v.split(b"\0", 1)[0].decode("ascii", "replace").strip()
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            return None

    def has_pxe_menu(self, label: str) -> bool:
        """Option 43 carries boot-menu sub-option 9 naming ``label`` (PXE_OPTION43) [DOC-BL]."""
        v = self.get(43)
        if not v:
            return False
        i = 0
        while i + 1 < len(v):
            code, length = v[i], v[i + 1]
            if code == 255:
                break
            if code == 0:
                i += 1
                continue
            body = v[i + 2 : i + 2 + length]
            if code == 9 and label.encode() in body:
                return True
            i += 2 + length
        return False


def _mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def parse_reply(frame: bytes) -> DhcpReply:
    """Decode an Ethernet frame carrying a BOOTP reply to port 68; raises DhcpDecodeError otherwise."""
    if len(frame) < 14 + 20 + 8 + 240:
        raise DhcpDecodeError("frame too short for DHCP")
    if frame[12:14] != b"\x08\x00":
        raise DhcpDecodeError("not IPv4")
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ihl < 20 or ip[9] != 17:
        raise DhcpDecodeError("not IPv4/UDP")
    if struct.unpack("!H", ip[6:8])[0] & 0x3FFF:
        raise DhcpDecodeError("fragmented")
    total = struct.unpack("!H", ip[2:4])[0]
    udp = ip[ihl:total]
    if len(udp) < 8:
        raise DhcpDecodeError("truncated UDP")
    sport, dport, ulen = struct.unpack("!HHH", udp[:6])
    if dport != CLIENT_PORT or sport != SERVER_PORT:
        raise DhcpDecodeError("not a server reply")
    bootp = udp[8:ulen]
    if len(bootp) < 240 or bootp[0] != 2 or bootp[236:240] != DHCP_COOKIE:
        raise DhcpDecodeError("not a BOOTP reply with the DHCP cookie")
    xid = struct.unpack("!I", bootp[4:8])[0]
    options: list[tuple[int, bytes]] = []
    i = 240
    while i < len(bootp):
        code = bootp[i]
        if code == 0:  # padding, handled since 2020-01-17 [RN]
            i += 1
            continue
        if code == 255:
            break
        if i + 1 >= len(bootp):
            raise DhcpDecodeError("option length missing")
        length = bootp[i + 1]
        if i + 2 + length > len(bootp):
            raise DhcpDecodeError(f"option {code} overruns the packet")
        options.append((code, bytes(bootp[i + 2 : i + 2 + length])))
        i += 2 + length
    return DhcpReply(
        src_mac=_mac_text(frame[6:12]),
        src_ip=str(ipaddress.IPv4Address(ip[12:16])),
        xid=xid,
        yiaddr=str(ipaddress.IPv4Address(bootp[16:20])),
        siaddr=str(ipaddress.IPv4Address(bootp[20:24])),
        chaddr=bytes(bootp[28:34]),
        options=options,
    )


def retransmit_offsets(req_timeout: float, dhcp_timeout: float) -> list[float]:
    """When, inside one DHCP_TIMEOUT cycle, the bootloader (re)sends: the only real timing trace
    ([W-E58-timing]: DISCOVERs at +0, +8, +24 s, next cycle at +45 s with the defaults 4000/45000 ms) fits
    a wait that starts at 2 x DHCP_REQ_TIMEOUT and doubles; the spacing is documented only as
    "DHCP_REQ_TIMEOUT before retrying" [DOC-BL], so this backoff is inferred from that trace."""
    offsets = [0.0]
    wait = 2 * req_timeout
    while offsets[-1] + wait < dhcp_timeout:
        offsets.append(offsets[-1] + wait)
        wait *= 2
    return offsets
