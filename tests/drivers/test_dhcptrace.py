"""ScapyTrace: decoding of DHCP (options 82 with sub-options, 97, 66, 224; malformed packets counted, never
raised), exchanges and tables, from a pcap and from a live capture on a veth pair the test creates (no
addresses, nothing routed; removed afterwards)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.sendrecv import sendp
from scapy.utils import wrpcap

from harness.drivers.dhcptrace import ScapyTrace
from harness.wait import wait_until

MAC = "dc:a6:32:00:00:01"
CHADDR = bytes.fromhex("dca632000001") + bytes(10)
GUID = bytes.fromhex("00") + b"RPi4" + bytes.fromhex("c031110000016e87a417")
OPT82 = bytes([1, 7]) + b"Gi1/0/1" + bytes([2, 8]) + b"tor-a-01" + bytes([9, 3]) + b"\x00\x0d\xe9"


def frames() -> list[Packet]:
    discover = (Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff") / IP(src="10.89.0.10", dst="10.89.0.2")
                / UDP(sport=67, dport=67) / BOOTP(op=1, xid=0x1234, chaddr=CHADDR, giaddr="10.90.1.1")
                / DHCP(options=[("message-type", "discover"), (97, GUID), (82, OPT82), "end"]))
    ack = (Ether() / IP(src="10.89.0.2", dst="10.90.1.1") / UDP(sport=67, dport=67)
           / BOOTP(op=2, xid=0x1234, chaddr=CHADDR, giaddr="10.90.1.1", yiaddr="10.90.1.100")
           / DHCP(options=[("message-type", "ack"), (66, b"10.89.0.4"), (224, b"http://10.89.0.3:8080/v1/install/t"),
                           (82, OPT82), "end"]))
    junk = Ether() / IP(src="10.89.0.10", dst="10.89.0.2") / UDP(sport=67, dport=67) / Raw(b"\x01\x01\x06")
    return [discover, ack, junk]


def test_decode_from_pcap(tmp_path: Path) -> None:
    pcap = tmp_path / "t.pcap"
    pkts = frames()
    for i, p in enumerate(pkts):
        p.time = 100.0 + i
    wrpcap(str(pcap), pkts)
    trace = ScapyTrace.from_pcap(pcap)
    got = trace.packets()
    assert [p.msg_type for p in got] == ["DISCOVER", "ACK"] and trace.malformed == 1
    d, a = got
    assert d.chaddr == MAC and d.giaddr == "10.90.1.1" and d.options[97] == GUID
    assert d.option82 == {1: b"Gi1/0/1", 2: b"tor-a-01", 9: b"\x00\x0d\xe9"}
    assert a.option_text(66) == "10.89.0.4" and a.option_text(224) == "http://10.89.0.3:8080/v1/install/t"
    assert a.yiaddr == "10.90.1.100"
    ex = trace.exchanges(MAC)
    assert len(ex) == 1 and [p.msg_type for p in ex[0].packets] == ["DISCOVER", "ACK"]
    assert ex[0].of_type("ACK") == [a]
    table = trace.table()
    assert "1=Gi1/0/1 2=tor-a-01 9=0x000de9" in table and "http://10.89.0.3:8080/v1/install/t" in table
    assert "0x0052506934" in table  # option 97 in hex
    assert "<td>ACK</td>" in trace.html_table() and trace.exchanges("aa:bb:cc:dd:ee:ff") == []


@pytest.fixture
def veth() -> Iterator[tuple[str, str]]:
    a, b = f"mtr{os.getpid() % 100000}a", f"mtr{os.getpid() % 100000}b"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    try:
        for dev in (a, b):
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        # a veth end is "up" only once both have carrier; on a loaded machine that takes longer than a fixed
        # pause, and a capture opened before then fails with "Network is down"
        wait_until(f"veth {a}/{b} up", lambda: all(
            Path(f"/sys/class/net/{dev}/operstate").read_text().strip() == "up" for dev in (a, b)), timeout=10)
        yield a, b
    finally:
        subprocess.run(["ip", "link", "del", a], check=False)


def test_live_capture(veth: tuple[str, str], tmp_path: Path) -> None:
    sniff_on, send_on = veth
    trace = ScapyTrace(sniff_on, tmp_path / "live.pcap")
    trace.start()
    time.sleep(0.5)
    sendp(frames(), iface=send_on, verbose=False)
    time.sleep(0.5)
    trace.stop()
    assert [p.msg_type for p in trace.packets()] == ["DISCOVER", "ACK"]
    assert trace.malformed == 1
    assert len(ScapyTrace.from_pcap(tmp_path / "live.pcap").packets()) == 2


def test_stop_without_traffic_does_not_hang(veth: tuple[str, str], tmp_path: Path) -> None:
    trace = ScapyTrace(veth[0], tmp_path / "empty.pcap")
    trace.start()
    t0 = time.monotonic()
    trace.stop()
    assert time.monotonic() - t0 < 5 and trace.packets() == []
    assert "(no DHCP packets captured)" in trace.table()


def test_a_packet_sent_right_after_start_is_captured(veth: tuple[str, str], tmp_path: Path) -> None:
    """start() returns only once the sniffer's socket is open: the board's first DISCOVER, sent at once, is in
    the trace (repeated: a start that returns early misses some)."""
    sniff_on, send_on = veth
    discover = frames()[0]
    for i in range(8):
        trace = ScapyTrace(sniff_on, tmp_path / f"first-{i}.pcap")
        trace.start()
        sendp(discover, iface=send_on, verbose=False)
        deadline = time.monotonic() + 2
        while not trace.packets() and time.monotonic() < deadline:
            time.sleep(0.05)
        trace.stop()
        assert [p.msg_type for p in trace.packets()] == ["DISCOVER"], f"round {i}: the first packet was missed"


def test_a_capture_that_cannot_start_is_infrastructure(tmp_path: Path) -> None:
    from harness.drivers.base import InfraFailure

    with pytest.raises(InfraFailure, match=r"did not start|started not reached"):
        ScapyTrace("mtr-no-such-if", tmp_path / "x.pcap").start(timeout=3)
