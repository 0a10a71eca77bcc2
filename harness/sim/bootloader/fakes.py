"""Fakes of the bootloader's neighbours, for unit tests and the benchmark's dry runs: a clock that only
advances when slept on, a DHCP server at the far end of a fake link (real frames both ways), a TFTP tree in
a dict and a card with or without firmware."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.dhcp.codec import BOOTREPLY, CLIENT_PORT, SERVER_PORT, Bootp, MessageType, decode_bootp, encode_bootp
from harness.dhcp.frames import BROADCAST_MAC, LIMITED_BROADCAST, parse_udp_frame, udp_frame
from harness.sim.bootloader.config import EepromConfig
from harness.sim.bootloader.dora import DhcpClient, Lease
from harness.sim.bootloader.events import Uart
from harness.sim.bootloader.sd import SdBoot
from harness.sim.bootloader.tftp import TftpResult
from harness.sim.media.cardfs import CardError, Partition


@dataclass
class FakeClock:
    now: float = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def reply_frame(
    *,
    xid: int,
    chaddr: bytes,
    msg_type: int,
    yiaddr: str,
    server_ip: str,
    server_mac: bytes,
    options: list[tuple[int, bytes]],
    siaddr: str = "0.0.0.0",
) -> bytes:
    """A server's BOOTP reply as an Ethernet frame (broadcast), option 53 first."""
    msg = Bootp(op=BOOTREPLY, xid=xid, chaddr=chaddr, yiaddr=ipaddress.IPv4Address(yiaddr),
                siaddr=ipaddress.IPv4Address(siaddr), options=[(53, bytes([msg_type])), *options])
    return udp_frame(src_mac=server_mac, dst_mac=BROADCAST_MAC, src_ip=ipaddress.IPv4Address(server_ip),
                     dst_ip=LIMITED_BROADCAST, sport=SERVER_PORT, dport=CLIENT_PORT, payload=encode_bootp(msg))


def ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


@dataclass
class FakeDhcpServer:
    """The far end of a fake link: answers DISCOVER with OFFER and REQUEST with ACK (or stays silent).

    ``option66`` None leaves it out; ``answer`` False makes the server mute; ``delay`` is how long (fake
    seconds) each answer takes. Every frame the board sends is kept in ``sent``."""

    clock: FakeClock
    yiaddr: str = "10.90.1.100"
    server_ip: str = "10.89.0.2"
    relay_ip: str = "10.90.1.1"
    server_mac: bytes = bytes.fromhex("02420a5a0101")
    option66: bytes | None = b"10.89.0.4"
    answer: bool = True
    delay: float = 0.01
    siaddr: str = "0.0.0.0"  # next-server in the replies
    sent: list[bytes] = field(default_factory=list)
    _queue: list[tuple[float, bytes]] = field(default_factory=list)

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)
        if not self.answer:
            return
        request = decode_bootp(parse_udp_frame(frame).payload)
        opts: list[tuple[int, bytes]] = [(54, ip4(self.server_ip)), (51, struct.pack("!I", 3600)),
                                         (1, ip4("255.255.255.0")), (3, ip4(self.relay_ip))]
        if self.option66 is not None:
            opts.append((66, self.option66))
        answers: dict[int, int] = {MessageType.DISCOVER: MessageType.OFFER, MessageType.REQUEST: MessageType.ACK}
        reply_type = answers.get(request.message_type or 0)
        if reply_type is None:
            return
        self._queue.append((self.clock.now + self.delay, reply_frame(
            xid=request.xid, chaddr=request.mac, msg_type=reply_type, yiaddr=self.yiaddr, server_ip=self.relay_ip,
            server_mac=self.server_mac, options=opts, siaddr=self.siaddr,
        )))

    def recv(self, timeout: float) -> bytes | None:
        if self._queue:
            at, frame = self._queue[0]
            if at <= self.clock.now + timeout:
                self._queue.pop(0)
                self.clock.now = max(self.clock.now, at)
                return frame
        self.clock.sleep(timeout)
        return None

    def sent_types(self) -> list[int | None]:
        return [decode_bootp(parse_udp_frame(f).payload).message_type for f in self.sent]


@dataclass
class FakeTftp:
    files: dict[str, bytes]
    requests: list[tuple[str, str, bool]] = field(default_factory=list)
    timeout_paths: set[str] = field(default_factory=set)
    clock: FakeClock | None = None  # with ``file_timeout``: a timed-out read costs that much fake time
    file_timeout: float = 0.0

    def get(self, server: str, path: str, *, probe: bool = False) -> TftpResult:
        self.requests.append((server, path, probe))
        if path in self.timeout_paths:
            if self.clock is not None:
                self.clock.sleep(self.file_timeout)
            return TftpResult("timeout", message="TFTP_FILE_TIMEOUT")
        if path not in self.files:
            return TftpResult("error", code=1, message="File not found")
        data = self.files[path]
        if probe:
            return TftpResult("exists", size=len(data))
        return TftpResult("ok", data=data, size=len(data))


@dataclass
class FakeNetwork:
    """NETWORK mode against a fake neighbour: the real DHCP client over ``FakeDhcpServer``."""

    server: FakeDhcpServer
    tftp: FakeTftp
    config: EepromConfig
    uart: Uart
    mac: bytes
    time_factor: float
    link: bool = True
    arp_answer: bool = True
    dhcp_runs: int = 0
    configured: list[Lease] = field(default_factory=list)

    def start(self, timeout: float) -> int | None:
        if not self.link:
            self.server.clock.sleep(timeout)
            return None
        return 1000

    def dhcp(self) -> Lease | None:
        self.dhcp_runs += 1
        client = DhcpClient(self.server, self.server.clock, self.uart, self.config, self.mac,
                            b"\0" * 17, self.time_factor)
        return client.run()

    def configure(self, lease: Lease) -> None:
        self.configured.append(lease)

    def arp(self, lease: Lease, target: str, timeout: float) -> str | None:
        if not self.arp_answer:
            self.server.clock.sleep(timeout)
            return None
        return "02:42:0a:59:00:04"

    def stop(self) -> None:
        pass


@dataclass
class FakeCard:
    files: dict[str, bytes] | None = None  # None: no valid card
    prefix: str = ""
    reads: int = 0
    on_read: Callable[[FakeCard], None] | None = None

    def find_firmware(self) -> SdBoot:
        self.reads += 1
        if self.on_read is not None:
            self.on_read(self)
        if self.files is None:
            raise CardError("no MBR signature")
        if "start4.elf" not in self.files:
            raise CardError("start4.elf not found")
        return SdBoot(Partition(1, 0x0C, 1 << 20, 40 << 20), self.prefix, dict(self.files))
