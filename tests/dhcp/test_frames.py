"""harness.dhcp.frames: Ethernet/IPv4/UDP frames, checked against scapy's checksums; malformed frames raise
DhcpWireError and nothing else."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import BOOTP, DHCP, IP, UDP, Ether  # type: ignore[attr-defined]

from harness.dhcp import frames as f
from harness.dhcp.codec import DhcpWireError

MAC = bytes.fromhex("dca632000001")


def scapy_discover() -> bytes:
    pkt = BOOTP(op=1, xid=0x5AD50DB4, chaddr=MAC + b"\x00" * 10) / DHCP(options=[("message-type", "discover"), "end"])
    return bytes(pkt)


def test_udp_frame_matches_scapy_checksums() -> None:
    payload = scapy_discover()
    src, dst = ipaddress.IPv4Address("10.90.1.1"), ipaddress.IPv4Address("10.90.1.150")
    frame = f.udp_frame(src_mac=b"\x02" * 6, dst_mac=MAC, src_ip=src, dst_ip=dst, sport=67, dport=68,
                        payload=payload, ip_id=42)
    pkt = Ether(frame)
    ref = Ether(dst=MAC.hex(":"), src="02:02:02:02:02:02") / IP(src=str(src), dst=str(dst), id=42, ttl=64) / UDP(
        sport=67, dport=68) / payload
    ref = Ether(bytes(ref))
    assert pkt[IP].chksum == ref[IP].chksum
    assert pkt[UDP].chksum == ref[UDP].chksum
    assert bytes(pkt[UDP].payload) == payload
    parsed = f.parse_udp_frame(frame)
    assert (parsed.src_ip, parsed.dst_ip, parsed.sport, parsed.dport, parsed.dst_mac) == (src, dst, 67, 68, MAC)
    assert parsed.payload == payload and parsed.ttl == 64


def test_parse_frame_rejects_damage() -> None:
    good = f.udp_frame(src_mac=b"\x02" * 6, dst_mac=f.BROADCAST_MAC, src_ip=ipaddress.IPv4Address(0),
                       dst_ip=f.LIMITED_BROADCAST, sport=68, dport=67, payload=b"hello")
    assert f.parse_udp_frame(good).payload == b"hello"
    with pytest.raises(DhcpWireError, match="too short"):
        f.parse_udp_frame(good[:30])
    with pytest.raises(DhcpWireError, match="not IPv4"):
        f.parse_udp_frame(good[:12] + b"\x86\xdd" + good[14:])
    with pytest.raises(DhcpWireError, match="checksum"):
        f.parse_udp_frame(good[:22] + b"\x01" + good[23:])  # TTL changed, checksum not
    with pytest.raises(DhcpWireError, match="total length"):
        f.parse_udp_frame(good[:-3])


@settings(max_examples=300, database=None)
@given(st.binary(min_size=0, max_size=120))
def test_parse_frame_never_raises_anything_else(data: bytes) -> None:
    try:
        f.parse_udp_frame(b"\xff" * 12 + b"\x08\x00" + data)
    except DhcpWireError:
        pass


def test_macs() -> None:
    assert f.mac_text(MAC) == "dc:a6:32:00:00:01"
    assert f.parse_mac("DC-A6-32-00-00-01") == f.parse_mac("dca632000001") == MAC
    for bad in ("dc:a6:32", "zz:a6:32:00:00:01", ""):
        with pytest.raises(DhcpWireError):
            f.parse_mac(bad)
