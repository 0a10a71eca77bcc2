"""harness.sim.dhcpwire: BOOTP/option/option-82/frame codecs, checked against scapy as an independent codec."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import BOOTP, DHCP, IP, UDP, Ether  # type: ignore[attr-defined]

from harness.sim import dhcpwire as w

MAC = bytes.fromhex("dca632000001")


def scapy_discover(extra: list[object] | None = None, flags: int = 0) -> bytes:
    opts: list[object] = [("message-type", "discover"), ("vendor_class_id", b"PXEClient:Arch:00000:UNDI:002001")]
    opts += extra or []
    opts.append("end")
    pkt = BOOTP(op=1, xid=0x5AD50DB4, chaddr=MAC + b"\x00" * 10, flags=flags) / DHCP(options=opts)
    return bytes(pkt)


# -- options ------------------------------------------------------------------------------------------------
def test_parse_options_skips_pads_and_stops_at_end() -> None:
    area = bytes([0, 0, 53, 1, 1, 0, 60, 3]) + b"abc" + bytes([255, 7, 7, 7])
    assert w.parse_options(area) == [(53, b"\x01"), (60, b"abc")]


def test_parse_options_truncated_tlv_is_an_error() -> None:
    with pytest.raises(w.DhcpWireError, match="runs past the end"):
        w.parse_options(bytes([53, 1, 1, 60, 10, 1, 2]))
    with pytest.raises(w.DhcpWireError, match="length byte missing"):
        w.parse_options(bytes([53]))


def test_missing_end_only_an_error_when_required() -> None:
    area = bytes([53, 1, 1])
    assert w.parse_options(area) == [(53, b"\x01")]
    with pytest.raises(w.DhcpWireError, match="not terminated"):
        w.parse_options(area, require_end=True)


def test_encode_options_refuses_oversized_and_reserved_codes() -> None:
    with pytest.raises(w.DhcpWireError, match="exceeds 255"):
        w.encode_options([(60, b"x" * 256)])
    with pytest.raises(w.DhcpWireError, match="not encodable"):
        w.encode_options([(255, b"")])


@settings(database=None)
@given(st.lists(st.tuples(st.integers(1, 254), st.binary(max_size=40)), max_size=12))
def test_options_round_trip(opts: list[tuple[int, bytes]]) -> None:
    assert w.parse_options(w.encode_options(opts), require_end=True) == opts


def test_helpers_find_and_remove_options() -> None:
    opts = [(53, b"\x01"), (82, b"\x01\x01a"), (60, b"x"), (82, b"\x01\x01b")]
    assert w.get_option(opts, 82) == b"\x01\x01a"
    assert w.without_option(opts, 82) == [(53, b"\x01"), (60, b"x")]
    assert w.message_type(opts) == 1
    assert w.message_type([(53, b"\x01\x02")]) is None


# -- option 82 ----------------------------------------------------------------------------------------------
def test_option82_build_and_parse() -> None:
    subs = {2: b"tor-1", 1: b"Gi1/0/1", 9: bytes.fromhex("0000a0b40104deadbeef")}
    value = w.build_option82(subs)
    assert value == b"\x01\x07Gi1/0/1" + b"\x02\x05tor-1" + b"\x09\x0a" + bytes.fromhex("0000a0b40104deadbeef")
    assert w.parse_option82(value) == subs
    assert w.encode_option82(subs) == bytes([82, len(value)]) + value


def test_option82_in_a_message_is_what_scapy_reads() -> None:
    subs = {1: b"Gi1/0/1", 2: b"tor-1"}
    msg = w.Bootp(op=1, xid=1, chaddr=MAC, options=[(53, b"\x01"), (82, w.build_option82(subs))])
    opts: dict[str, Any] = dict(o for o in BOOTP(w.encode_bootp(msg))[DHCP].options if isinstance(o, tuple))
    assert opts["relay_agent_information"] == b"\x01\x07Gi1/0/1\x02\x05tor-1"


def test_option82_limits_and_malformed() -> None:
    with pytest.raises(w.DhcpWireError, match="at least one"):
        w.build_option82({})
    with pytest.raises(w.DhcpWireError, match="exceed 255"):
        w.build_option82({1: b"x" * 256})
    with pytest.raises(w.DhcpWireError, match="limit is 255"):
        w.build_option82({1: b"x" * 200, 2: b"y" * 60})
    with pytest.raises(w.DhcpWireError, match="runs past the end"):
        w.parse_option82(b"\x01\x05ab")
    with pytest.raises(w.DhcpWireError, match="no length byte"):
        w.parse_option82(b"\x01\x01a\x02")
    with pytest.raises(w.DhcpWireError, match="appears twice"):
        w.parse_option82(b"\x01\x01a\x01\x01b")
    assert w.parse_option82_list(b"\x01\x01a\x01\x01b") == [(1, b"a"), (1, b"b")]


@settings(database=None)
@given(st.dictionaries(st.integers(0, 255), st.binary(max_size=30), min_size=1, max_size=6))
def test_option82_round_trip(subs: dict[int, bytes]) -> None:
    assert w.parse_option82(w.build_option82(subs)) == subs


def test_option82_query_and_ids() -> None:
    assert w.option82_query({2: b"\x0a\x0b", 1: b"Gi"}) == {"sub82_1": "4769", "sub82_2": "0a0b"}
    assert w.parse_id("hex:0A0b") == b"\x0a\x0b"
    assert w.parse_id("Gi1/0/1") == b"Gi1/0/1"
    for bad in ("hex:zz", "hex:", "", "x" * 256):
        with pytest.raises(w.DhcpWireError):
            w.parse_id(bad)


# -- BOOTP ----------------------------------------------------------------------------------------------------
def test_decode_scapy_discover() -> None:
    raw = scapy_discover(flags=0x8000)
    msg = w.decode_bootp(raw)
    assert (msg.op, msg.xid, msg.mac, msg.hops, msg.broadcast) == (1, 0x5AD50DB4, MAC, 0, True)
    assert msg.type_name == "DISCOVER"
    assert msg.option(60) == b"PXEClient:Arch:00000:UNDI:002001"
    assert msg.giaddr == ipaddress.IPv4Address(0)


def test_encode_is_byte_identical_for_an_unpadded_message() -> None:
    raw = scapy_discover()
    assert w.encode_bootp(w.decode_bootp(raw)) == raw


def test_padding_after_end_is_kept() -> None:
    raw = scapy_discover() + b"\x00" * 17
    msg = w.decode_bootp(raw)
    assert msg.padding == 17
    assert w.encode_bootp(msg) == raw


def test_encoded_message_parses_in_scapy() -> None:
    msg = w.Bootp(op=2, xid=7, chaddr=MAC, yiaddr=ipaddress.IPv4Address("10.90.1.150"),
                  giaddr=ipaddress.IPv4Address("10.90.1.1"), hops=1, flags=0x8000,
                  options=[(53, b"\x02"), (54, bytes([10, 89, 0, 2])), (66, b"10.89.0.4")])
    raw = w.encode_bootp(msg, min_length=300)
    assert len(raw) == 300
    pkt = BOOTP(raw)
    assert pkt.yiaddr == "10.90.1.150" and pkt.giaddr == "10.90.1.1" and pkt.hops == 1 and pkt.flags == 0x8000
    assert bytes(pkt.chaddr)[:6] == MAC
    opts: dict[str, Any] = dict(o for o in pkt[DHCP].options if isinstance(o, tuple))
    assert opts["message-type"] == 2 and opts["tftp_server_name"] == b"10.89.0.4"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "too short"),
        (b"\x01" * 239, "too short"),
        (bytes([3]) + bytes(239), "neither BOOTREQUEST"),
        (bytes([1]) + bytes(239), "magic cookie"),
        (bytes([1]) + bytes(235) + w.COOKIE + bytes([53, 9, 1]), "runs past"),
    ],
)
def test_decode_malformed(raw: bytes, reason: str) -> None:
    with pytest.raises(w.DhcpWireError, match=reason):
        w.decode_bootp(raw)


@settings(max_examples=300, database=None)
@given(st.binary(max_size=400))
def test_decode_never_raises_anything_else(tail: bytes) -> None:
    raw = bytes([1, 1, 6, 0]) + bytes(232) + w.COOKIE + tail
    try:
        w.decode_bootp(raw)
    except w.DhcpWireError:
        pass


# -- frames -------------------------------------------------------------------------------------------------
def test_udp_frame_matches_scapy_checksums() -> None:
    payload = scapy_discover()
    src, dst = ipaddress.IPv4Address("10.90.1.1"), ipaddress.IPv4Address("10.90.1.150")
    frame = w.udp_frame(src_mac=b"\x02" * 6, dst_mac=MAC, src_ip=src, dst_ip=dst, sport=67, dport=68,
                        payload=payload, ip_id=42)
    pkt = Ether(frame)
    ref = Ether(dst=MAC.hex(":"), src="02:02:02:02:02:02") / IP(src=str(src), dst=str(dst), id=42, ttl=64) / UDP(
        sport=67, dport=68) / payload
    ref = Ether(bytes(ref))
    assert pkt[IP].chksum == ref[IP].chksum
    assert pkt[UDP].chksum == ref[UDP].chksum
    assert bytes(pkt[UDP].payload) == payload
    parsed = w.parse_udp_frame(frame)
    assert (parsed.src_ip, parsed.dst_ip, parsed.sport, parsed.dport, parsed.dst_mac) == (src, dst, 67, 68, MAC)
    assert parsed.payload == payload and parsed.ttl == 64


def test_parse_frame_rejects_damage() -> None:
    good = w.udp_frame(src_mac=b"\x02" * 6, dst_mac=w.BROADCAST_MAC, src_ip=ipaddress.IPv4Address(0),
                       dst_ip=w.LIMITED_BROADCAST, sport=68, dport=67, payload=b"hello")
    assert w.parse_udp_frame(good).payload == b"hello"
    with pytest.raises(w.DhcpWireError, match="too short"):
        w.parse_udp_frame(good[:30])
    with pytest.raises(w.DhcpWireError, match="not IPv4"):
        w.parse_udp_frame(good[:12] + b"\x86\xdd" + good[14:])
    with pytest.raises(w.DhcpWireError, match="checksum"):
        w.parse_udp_frame(good[:22] + b"\x01" + good[23:])  # TTL changed, checksum not
    with pytest.raises(w.DhcpWireError, match="total length"):
        w.parse_udp_frame(good[:-3])


@settings(max_examples=300, database=None)
@given(st.binary(min_size=0, max_size=120))
def test_parse_frame_never_raises_anything_else(data: bytes) -> None:
    try:
        w.parse_udp_frame(b"\xff" * 12 + b"\x08\x00" + data)
    except w.DhcpWireError:
        pass
