"""DHCP as the Pi 4 EEPROM bootloader speaks it: the frames, byte for byte, and their decoding.

Everything here is pure (bytes in, bytes out) on top of the one codec, ``harness.dhcp``; the exchange itself
lives in ``dora.py`` and option 97 is built by ``harness.dhcp.pi4``.
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
from dataclasses import dataclass, field

from harness.dhcp.codec import (
    BOOTREPLY,
    BOOTREQUEST,
    CLIENT_PORT,
    SERVER_PORT,
    ZERO_IP,
    Bootp,
    DhcpWireError,
    MessageType,
    Option,
    decode_bootp,
    encode_bootp,
    get_option,
    message_type,
    parse_options,
    type_name,
)
from harness.dhcp.frames import BROADCAST_MAC, LIMITED_BROADCAST, mac_text, parse_udp_frame, udp_frame

PARAMETER_REQUEST_LIST = bytes([1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135])
VENDOR_CLASS = b"PXEClient:Arch:00000:UNDI:002001"
CLIENT_ARCH = b"\x00\x00"  # option 93: "IA x86 PC"
CLIENT_NDI = b"\x01\x02\x01"  # option 94: UNDI 2.1


def _request(msg_type: MessageType, xid: int, mac: bytes, options: list[Option]) -> bytes:
    """A BOOTREQUEST as the bootloader sends it: secs 0, flags 0 (the broadcast bit clear), all addresses 0,
    empty sname/file, option 53 first, the end option and no padding."""
    msg = Bootp(op=BOOTREQUEST, xid=xid, chaddr=mac, options=[(53, bytes([msg_type])), *options])
    return encode_bootp(msg)


def discover_payload(xid: int, mac: bytes, opt97: bytes) -> bytes:
    """The BOOTP payload of the bootloader's DISCOVER (322 bytes)."""
    return _request(MessageType.DISCOVER, xid, mac, [
        (55, PARAMETER_REQUEST_LIST), (93, CLIENT_ARCH), (94, CLIENT_NDI), (97, opt97), (60, VENDOR_CLASS),
    ])


def request_payload(xid: int, mac: bytes, opt97: bytes, requested: str, server_id: str | None) -> bytes:
    """The bootloader's REQUEST. Observed only that it lacks option 60 [E82/E87]; a full decode was never
    found, so options 50/54 (RFC 2131 SELECTING state), keeping 55/93/94/97 and sending it broadcast from
    0.0.0.0 are unverified choices (the documented DHCP behaviour)."""
    opts: list[Option] = [(50, ipaddress.IPv4Address(requested).packed)]
    if server_id:
        opts.append((54, ipaddress.IPv4Address(server_id).packed))
    opts += [(55, PARAMETER_REQUEST_LIST), (93, CLIENT_ARCH), (94, CLIENT_NDI), (97, opt97)]
    return _request(MessageType.REQUEST, xid, mac, opts)


def broadcast_frame(src_mac: bytes, payload: bytes, *, ip_id: int | None = None) -> bytes:
    """The bootloader's frame around a request: Ethernet broadcast, IPv4 0.0.0.0 → 255.255.255.255 (TTL 64,
    no DF, random non-zero ID), UDP 68 → 67 (checksummed; a computed 0 is sent as 0xffff [RN 2020-12-11])."""
    ident = ip_id if ip_id is not None else random.randint(1, 0xFFFF)
    return udp_frame(src_mac=src_mac, dst_mac=BROADCAST_MAC, src_ip=ZERO_IP, dst_ip=LIMITED_BROADCAST,
                     sport=CLIENT_PORT, dport=SERVER_PORT, payload=payload, ip_id=ident, ttl=64)


@dataclass
class DhcpReply:
    """A decoded server reply, with what the bootloader prints about it. ``options`` are the TLVs in wire
    order (the console shows each); values are read joined (RFC 3396)."""

    src_mac: str
    src_ip: str
    xid: int
    yiaddr: str
    siaddr: str
    chaddr: bytes
    options: list[Option] = field(default_factory=list)

    def get(self, code: int) -> bytes | None:
        return get_option(self.options, code)

    @property
    def msg_type(self) -> int:
        return message_type(self.options) or 0

    @property
    def type_name(self) -> str:
        return type_name(self.msg_type)

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
        """Option 43 carries boot-menu sub-option 9 naming ``label`` (PXE_OPTION43) [DOC-BL]. Its sub-options
        are TLVs with pad and end, as options are; a malformed option 43 names no menu."""
        v = self.get(43)
        if not v:
            return False
        try:
            subs = parse_options(v)
        except DhcpWireError:
            return False
        return any(code == 9 and label.encode() in body for code, body in subs)


def parse_reply(frame: bytes) -> DhcpReply:
    """Decode an Ethernet frame carrying a BOOTP reply from port 67 to port 68 (padding after the end option
    is handled, since 2020-01-17 [RN]); raises DhcpWireError otherwise."""
    udp = parse_udp_frame(frame)
    if udp.dport != CLIENT_PORT or udp.sport != SERVER_PORT:
        raise DhcpWireError("not a server reply")
    msg = decode_bootp(udp.payload)
    if msg.op != BOOTREPLY:
        raise DhcpWireError("not a BOOTP reply")
    return DhcpReply(
        src_mac=mac_text(udp.src_mac),
        src_ip=str(udp.src_ip),
        xid=msg.xid,
        yiaddr=str(msg.yiaddr),
        siaddr=str(msg.siaddr),
        chaddr=msg.chaddr[:6],
        options=msg.options,
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
