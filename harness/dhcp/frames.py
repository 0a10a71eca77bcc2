"""Ethernet II / IPv4 / UDP frames around a DHCP message, for the places that send and read raw frames (the
simulated board's AF_PACKET link, the relay switch's raw sends to the client ports).

Malformed frames raise :class:`harness.dhcp.codec.DhcpWireError`, the codec's one error type, and nothing
else.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from harness.dhcp.codec import DhcpWireError

_ETH = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
ETH_P_IP = 0x0800
IPPROTO_UDP = 17
BROADCAST_MAC = b"\xff" * 6
LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


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
    """An Ethernet II frame carrying IPv4 (no options, no DF) / UDP with valid header and UDP checksums (a
    computed 0 is sent as 0xffff, RFC 768)."""
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
    header checksum. Bytes after the IPv4 datagram (Ethernet's minimum-size padding) are ignored."""
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
    """``dc:a6:32:00:00:01`` from 6 bytes."""
    return mac.hex(":")


def parse_mac(text: str) -> bytes:
    """6 bytes from ``dc:a6:32:00:00:01`` (or with ``-``, or none)."""
    try:
        raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    except ValueError:
        raise DhcpWireError(f"{text!r} is not a MAC address") from None
    if len(raw) != 6:
        raise DhcpWireError(f"{text!r} is not a 6-byte MAC address")
    return raw
