"""bench/dhcpload (the closed-loop generator of bench.hook), compiled with the host's C compiler and run against a
small Python DHCP responder on loopback (another port than 67, so no privilege is needed)."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.hook import DHCPLOAD_SOURCE, parse_dhcpload
from harness.dhcp.codec import BOOTREPLY, Bootp, MessageType, decode_bootp, encode_bootp, parse_option82
from testkit.ports import free_port

SERVER, RELAY = "127.0.0.1", "127.0.0.2"
GUID = bytes(range(17))


@pytest.fixture(scope="module")
def dhcpload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("dhcpload") / "dhcpload"
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-o", str(exe), str(DHCPLOAD_SOURCE)],
                   check=True)
    return exe


@dataclass
class Responder:
    """Answers DISCOVER with OFFER and REQUEST with ACK (+ option 224) to the relay, unless told not to ACK."""

    sock: socket.socket
    ack: bool = True
    stop: threading.Event = field(default_factory=threading.Event)
    circuits: list[bytes] = field(default_factory=list)
    macs: set[bytes] = field(default_factory=set)
    guids: set[bytes | None] = field(default_factory=set)
    open_xids: set[int] = field(default_factory=set)
    most_open: int = 0

    def serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                data, _ = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            msg = decode_bootp(data)
            if msg.message_type == MessageType.DISCOVER:
                self.circuits.append(parse_option82(msg.option(82) or b"").get(1, b""))
                self.macs.add(msg.chaddr[:6])
                self.guids.add(msg.option(97))
                self.open_xids.add(msg.xid)
                self.most_open = max(self.most_open, len(self.open_xids))
                kind = MessageType.OFFER
            elif self.ack:
                self.open_xids.discard(msg.xid)
                kind = MessageType.ACK
            else:
                continue
            options = [(53, bytes([int(kind)])), (54, ipaddress.IPv4Address(SERVER).packed)]
            if kind == MessageType.ACK:
                options.append((224, b"http://backend/v1/install/x"))
            reply = Bootp(op=BOOTREPLY, xid=msg.xid, chaddr=msg.chaddr, giaddr=msg.giaddr,
                          yiaddr=ipaddress.IPv4Address("10.200.0.10"), options=options)
            self.sock.sendto(encode_bootp(reply), (str(msg.giaddr), self.sock.getsockname()[1]))


@pytest.fixture
def responder() -> Iterator[Responder]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((SERVER, free_port(socket.SOCK_DGRAM, SERVER)))
    r = Responder(sock)
    t = threading.Thread(target=r.serve, daemon=True)
    t.start()
    yield r
    r.stop.set()
    t.join()
    sock.close()


def run(exe: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), "--server", SERVER, "--local", RELAY, "--port", str(port), *args],
                          capture_output=True, text=True, timeout=30)


def test_closed_loop_exchanges_each_with_its_own_port(dhcpload: Path, responder: Responder) -> None:
    port = responder.sock.getsockname()[1]
    out = run(dhcpload, port, "--clients", "4", "--duration", "1.5", "--warmup", "0.5",
              "--option", f"97,{GUID.hex()}", "--vary82", b"tor-a-01".hex())
    assert out.returncode == 0, out.stderr
    perf = parse_dhcpload(out.stdout)
    assert perf.exchanges > 20 and perf.rate > 0
    assert perf.with224 == perf.exchanges   # every ACK carried 224
    assert perf.drops == 0
    assert perf.all_exchanges > perf.exchanges   # the warm-up's exchanges are counted apart
    assert 0 < perf.do_p50 <= perf.do_p99 and 0 < perf.ra_p50 <= perf.ra_p99
    # every exchange is a new client on a new port: distinct chaddr and circuit-id, the GUID as given
    assert len(set(responder.circuits)) == len(responder.circuits) == len(responder.macs)
    assert all(c.startswith(b"c") for c in responder.circuits)
    assert responder.guids == {GUID}
    assert responder.most_open <= 4   # closed loop: never more exchanges outstanding than clients


def test_unanswered_requests_time_out_and_count_nothing(dhcpload: Path, responder: Responder) -> None:
    responder.ack = False
    port = responder.sock.getsockname()[1]
    out = run(dhcpload, port, "--clients", "2", "--duration", "1.5", "--warmup", "0.2", "--timeout", "0.2")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["exchanges"] == 0 and doc["acks_with_224"] == 0
    assert doc["timeouts"] >= 4              # each client retried after every timeout
    assert len(responder.macs) >= 6          # ... as a new client each time
    assert responder.guids == {None}         # no option 97 unless asked


@pytest.mark.parametrize("args, message", [
    (["--server", SERVER], "--server and --local are required"),
    (["--server", SERVER, "--local", RELAY, "--clients", "0"], "--clients must be in 1..4096"),
    (["--server", SERVER, "--local", RELAY, "--option", "97,abc"], "even number of hex digits"),
    (["--server", SERVER, "--local", RELAY, "--option", "300,00"], "CODE in 1..254"),
    (["--server", SERVER, "--local", RELAY, "--duration", "1", "--warmup", "2"], "must exceed --warmup"),
    (["--server", SERVER, "--local", RELAY, "--vary82", "ab" * 250], "no room for the circuit-id"),
    (["--server", SERVER, "--local", RELAY, *[a for code in range(1, 9) for a in ("--option", f"{code},{'00' * 255}")]],
     "do not fit in one packet"),
])
def test_bad_arguments_are_refused_with_a_reason(dhcpload: Path, args: list[str], message: str) -> None:
    out = subprocess.run([str(dhcpload), *args], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2
    assert message in out.stderr


def test_parse_refuses_output_without_a_result() -> None:
    with pytest.raises(RuntimeError, match="no result"):
        parse_dhcpload("dhcpload: bind: Address already in use\n")
