"""harness.dhcp.codec: BOOTP, option TLVs (RFC 3396 long options), option 82 and message types, checked against
scapy as an independent codec (scapy reads our encodings; we read scapy's)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import BOOTP, DHCP  # type: ignore[attr-defined]

from harness.dhcp import codec as w

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


def test_encode_options_refuses_reserved_codes() -> None:
    for code in (0, 255, 256, -1):
        with pytest.raises(w.DhcpWireError, match="not encodable"):
            w.encode_options([(code, b"")])


# -- RFC 3396 long options ----------------------------------------------------------------------------------
LONG = bytes(range(256)) + b"tail of the install URL" * 2  # 302 bytes: more than one TLV can carry


def test_a_long_option_encodes_as_consecutive_tlvs() -> None:
    value = LONG[:300]
    area = w.encode_options([(53, b"\x05"), (224, value)])
    assert area == bytes([53, 1, 5, 224, 255]) + value[:255] + bytes([224, 45]) + value[255:] + b"\xff"
    assert w.parse_options(area) == [(53, b"\x05"), (224, value[:255]), (224, value[255:])]
    assert w.decode_options(area) == {53: b"\x05", 224: value}
    assert w.get_option(w.parse_options(area), 224) == value


def test_exactly_255_and_empty_values_stay_one_tlv() -> None:
    assert w.encode_options([(224, b"x" * 255)], end=False) == bytes([224, 255]) + b"x" * 255
    assert w.encode_options([(224, b"")], end=False) == bytes([224, 0])
    assert w.encode_options([(224, b"x" * 510)], end=False).count(bytes([224, 255])) == 2


def test_repeated_options_join_in_wire_order_wherever_they_are() -> None:
    # RFC 3396 §5: every instance of a code, in order, even when other options come between
    opts = [(224, b"http://"), (53, b"\x02"), (224, b"host/"), (60, b"x"), (224, b"path")]
    assert w.join_options(opts) == {224: b"http://host/path", 53: b"\x02", 60: b"x"}
    assert list(w.join_options(opts)) == [224, 53, 60]
    assert w.get_option(opts, 224) == b"http://host/path" and w.get_option(opts, 66) is None


def test_a_long_option_in_a_message_is_what_scapy_reads() -> None:
    msg = w.Bootp(op=2, xid=3, chaddr=MAC, options=[(53, b"\x05"), (224, LONG), (66, b"10.89.0.4")])
    raw = w.encode_bootp(msg)
    # scapy does not join (nor split) long options: it reads the TLVs one by one, and they add up
    tlvs = [o for o in BOOTP(raw)[DHCP].options if isinstance(o, tuple) and o[0] == 224]
    assert [len(v) for _, v in tlvs] == [255, len(LONG) - 255] and b"".join(v for _, v in tlvs) == LONG
    back = w.decode_bootp(raw)
    assert back.option(224) == LONG and back.option(66) == b"10.89.0.4"
    assert w.encode_bootp(back) == raw  # the TLVs stay as they were: a relay re-encodes them unchanged


def test_a_split_that_scapy_wrote_decodes_as_one_value() -> None:
    halves = [(224, LONG[:150]), (224, LONG[150:])]  # a split other than ours: any split is allowed
    raw = bytes(BOOTP(op=2, xid=3, chaddr=MAC + bytes(10)) / DHCP(options=[("message-type", "ack"), *halves, "end"]))
    msg = w.decode_bootp(raw)
    assert msg.option(224) == LONG and msg.message_type == w.MessageType.ACK
    assert w.encode_bootp(msg) == raw


@settings(database=None)
@given(st.lists(st.tuples(st.integers(1, 254), st.binary(max_size=600)), max_size=6))
def test_long_options_round_trip_joined(opts: list[tuple[int, bytes]]) -> None:
    assert w.decode_options(w.encode_options(opts)) == w.join_options(opts)


# -- message types --------------------------------------------------------------------------------------------
def test_message_types_and_names() -> None:
    assert [int(t) for t in w.MessageType][:8] == list(range(1, 9))
    assert w.MessageType.NAK == 6 and w.MessageType(10).name == "LEASEQUERY"
    assert w.type_name(1) == "DISCOVER" and w.type_name(6) == "NAK" and w.type_name(None) == "BOOTP"
    assert w.type_name(200) == "TYPE200"
    assert w.message_type([(53, bytes([w.MessageType.OFFER]))]) == w.MessageType.OFFER


@settings(database=None)
@given(st.lists(st.tuples(st.integers(1, 254), st.binary(max_size=40)), max_size=12))
def test_options_round_trip(opts: list[tuple[int, bytes]]) -> None:
    assert w.parse_options(w.encode_options(opts), require_end=True) == opts


def test_helpers_find_and_remove_options() -> None:
    opts = [(53, b"\x01"), (82, b"\x01\x01a"), (60, b"x"), (82, b"\x01\x01b")]
    assert w.get_option(opts, 82) == b"\x01\x01a\x01\x01b"  # both instances, joined (RFC 3396)
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
