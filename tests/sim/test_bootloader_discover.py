"""The simulated bootloader's DISCOVER against the real Pi 4 DISCOVER decodes in tests/data/pi4/wire/,
field by field (the xid excepted: it is random per boot). The expected values are read out of the real
decodes, not restated here."""

from __future__ import annotations

import ipaddress
import re
import struct
from pathlib import Path

import pytest

from harness.dhcp.pi4 import option97
from harness.sim.bootloader.dhcp import (
    broadcast_frame,
    discover_payload,
    parse_reply,
    request_payload,
    retransmit_offsets,
)
from harness.sim.bootloader.fakes import reply_frame

WIRE = Path(__file__).resolve().parents[1] / "data" / "pi4" / "wire"
MAC = bytes.fromhex("dca6322776bc")  # the board of the wireshark decode
SERIAL = 0x6AEE7243


def _real(name: str) -> str:
    path = WIRE / name
    assert path.exists(), f"reference decode missing: {path}"
    return path.read_text()


def _field(text: str, label: str) -> str:
    m = re.search(rf"^\s*{re.escape(label)}:\s*(.+)$", text, re.M)
    assert m, f"{label!r} not in the reference decode"
    return m.group(1).strip()


def _frame() -> bytes:
    payload = discover_payload(0x5AD50DB4, MAC, option97(SERIAL, 0xC03111, MAC, 0))
    return broadcast_frame(MAC, payload)


def _options(payload: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 240
    while i < len(payload):
        code = payload[i]
        if code == 255:
            out.append((255, b""))
            break
        length = payload[i + 1]
        out.append((code, payload[i + 2 : i + 2 + length]))
        i += 2 + length
    return out


def test_frame_and_header_sizes_match_the_capture() -> None:
    real = _real("dhcp-discover-pi4-wireshark-01.txt")
    frame = _frame()
    frame_len = int(re.search(r"Frame 40: (\d+) bytes on wire", real).group(1))  # type: ignore[union-attr]
    assert len(frame) == frame_len
    ip = frame[14:34]
    assert struct.unpack("!H", ip[2:4])[0] == int(_field(real, "Total Length"))
    assert ip[8] == int(_field(real, "Time to live"))
    assert struct.unpack("!H", ip[6:8])[0] == int(_field(real, "Flags"), 16)  # no DF, no fragment
    assert struct.unpack("!H", ip[4:6])[0] != 0  # "non-zero IP ID" (0x506a in the capture)
    ips = re.search(r"Internet Protocol Version 4, Src: ([\d.]+), Dst: ([\d.]+)", real)
    assert ips
    assert frame[26:30] == ipaddress.IPv4Address(ips.group(1)).packed
    assert frame[30:34] == ipaddress.IPv4Address(ips.group(2)).packed
    assert frame[0:6] == b"\xff" * 6
    udp = frame[34:42]
    sport, dport, ulen, csum = struct.unpack("!HHHH", udp)
    assert (sport, dport) == (int(_field(real, "Source Port")), int(_field(real, "Destination Port")))
    assert ulen == int(_field(real, "Length"))
    assert csum != 0
    assert len(frame) - 42 == ulen - 8 == 322


def test_bootp_fields_match_the_capture() -> None:
    for name in ("dhcp-discover-pi4-wireshark-01.txt", "dhcp-discover-offer-pi4-dnsmasq-wireshark-01.txt"):
        real = _real(name).split("Boot Reply")[0]  # the DISCOVER part only
        bootp = _frame()[42:]
        assert bootp[0] == 1 and "Boot Request (1)" in _field(real, "Message type")
        assert bootp[1] == int(re.search(r"\(0x(\d+)\)", _field(real, "Hardware type")).group(1), 16)  # type: ignore[union-attr]
        assert bootp[2] == int(_field(real, "Hardware address length"))
        assert bootp[3] == int(_field(real, "Hops"))
        assert struct.unpack("!H", bootp[8:10])[0] == int(_field(real, "Seconds elapsed"))
        assert struct.unpack("!H", bootp[10:12])[0] == int(_field(real, "Bootp flags").split()[0], 16)
        for label, off in (("Client IP address", 12), ("Your (client) IP address", 16),
                           ("Next server IP address", 20), ("Relay agent IP address", 24)):
            assert bootp[off : off + 4] == ipaddress.IPv4Address(_field(real, label)).packed, label
        assert bootp[28:34] == MAC
        assert bootp[34:44].hex() == _field(real, "Client hardware address padding")
        assert "Server host name not given" in real and "Boot file name not given" in real
        assert bootp[44:108] == b"\0" * 64 and bootp[108:236] == b"\0" * 128
        assert bootp[236:240] == b"\x63\x82\x53\x63" and _field(real, "Magic cookie") == "DHCP"


def test_options_order_and_values_match_the_capture() -> None:
    real = _real("dhcp-discover-pi4-wireshark-01.txt")
    opts = _options(_frame()[42:])
    real_order = [int(c) for c in re.findall(r"^\s*Option: \((\d+)\)", real, re.M)]
    assert [c for c, _ in opts] == real_order
    assert opts[0][1] == b"\x01" and "Discover (1)" in real
    prl_lengths = re.search(r"Option: \(55\) Parameter Request List\s+Length: (\d+)", real)
    assert prl_lengths and len(opts[1][1]) == int(prl_lengths.group(1))
    real_prl = [int(c) for c in re.findall(r"Parameter Request List Item: \((\d+)\)", real)]
    ordered_unique = list(dict.fromkeys(real_prl))  # the decode's excerpts overlap at 66, 67
    assert list(opts[1][1]) == ordered_unique
    byname = dict(opts)
    assert byname[93] == struct.pack("!H", int(re.search(r"IA x86 PC \((\d+)\)", real).group(1)))  # type: ignore[union-attr]
    major = int(_field(real, "Major Version"))
    minor = int(_field(real, "Minor Version"))
    assert byname[94] == bytes([1, major, minor])
    len97 = re.search(r"Option: \(97\).*\n\s+Length: (\d+)", real)
    assert len97 and len(byname[97]) == int(len97.group(1))
    assert byname[60].decode() == _field(real, "Vendor class identifier")
    assert opts[-1] == (255, b"")
    for absent in (57, 61, 12, 50):
        assert absent not in byname


def test_old_option97_layout_reproduces_the_captured_uuid() -> None:
    real = _real("dhcp-discover-pi4-wireshark-01.txt")
    uuid_text = _field(real, "Client Identifier (UUID)")
    raw = option97(SERIAL, 0xC03111, MAC, 0)
    assert raw[0] == 0
    # Wireshark prints a GUID with its first three fields little-endian
    g = raw[1:]
    shown = (f"{struct.unpack('<I', g[0:4])[0]:08x}-{struct.unpack('<H', g[4:6])[0]:04x}-"
             f"{struct.unpack('<H', g[6:8])[0]:04x}-{g[8:10].hex()}-{g[10:16].hex()}")
    assert shown == uuid_text


def test_new_option97_layout_matches_the_cm4_log() -> None:
    real = _real("dnsmasq-log-cm4-option97-01.txt")
    echoed = re.search(r"client-machine-id\s+([0-9a-f:]+)", real).group(1)  # type: ignore[union-attr]
    prefix = bytes.fromhex(echoed.replace(":", ""))
    mac = bytes.fromhex("e45f01f8de90")
    raw = option97(0x89, 0x00A03141, mac)
    assert raw.startswith(prefix)  # "00 34 69 50 52 | 41 31 a0 00 | 01 f8 de 90 | 89"
    assert len(raw) == 17


def test_xid_is_the_only_varying_field() -> None:
    a = discover_payload(1, MAC, option97(SERIAL, 1, MAC))
    b = discover_payload(0xFFFFFFFF, MAC, option97(SERIAL, 1, MAC))
    assert a[:4] == b[:4] and a[8:] == b[8:] and a[4:8] != b[4:8]


def test_request_has_no_vendor_class_and_names_the_offer() -> None:
    payload = request_payload(7, MAC, option97(SERIAL, 1, MAC), "10.90.1.100", "10.89.0.2")
    opts = dict(_options(payload))
    assert opts[53] == b"\x03"
    assert 60 not in opts
    assert opts[50] == ipaddress.IPv4Address("10.90.1.100").packed
    assert opts[54] == ipaddress.IPv4Address("10.89.0.2").packed
    assert struct.unpack("!H", payload[10:12])[0] == 0


def test_reply_parsing_reads_option66_as_ascii() -> None:
    frame = reply_frame(xid=9, chaddr=MAC, msg_type=2, yiaddr="192.168.20.100", server_ip="192.168.20.1",
                        server_mac=bytes(6),
                        options=[(54, bytes([192, 168, 20, 1])), (66, b"192.168.20.105")])
    reply = parse_reply(frame)
    assert reply.type_name == "OFFER" and reply.xid == 9 and reply.yiaddr == "192.168.20.100"
    assert reply.tftp_option == "192.168.20.105"
    assert [c for c, _ in reply.options] == [53, 54, 66]


@pytest.mark.parametrize("bad", [b"", b"\x00" * 100, _frame()])
def test_non_replies_are_rejected(bad: bytes) -> None:
    with pytest.raises(ValueError):
        parse_reply(bad)


def test_retransmit_offsets_fit_the_real_dhcpd_trace() -> None:
    real = _real("dhcpd-discover-retry-timing-pi4-01.txt")
    stamps = [sum(int(x) * m for x, m in zip(t.split(":"), (3600, 60, 1), strict=True))
              for t in re.findall(r"(\d\d:\d\d:\d\d)\s+dhcpd: DHCPDISCOVER", real)]
    rel = [s - stamps[0] for s in stamps]
    offsets = retransmit_offsets(4.0, 45.0)  # the documented defaults
    assert offsets == [float(x) for x in rel[:3]]
    cycle2 = [x - rel[3] for x in rel[3:]]
    assert offsets[: len(cycle2)] == [float(x) for x in cycle2]
    assert 45 - 1 <= rel[3] <= 45 + 1  # the next DHCP_TIMEOUT cycle
