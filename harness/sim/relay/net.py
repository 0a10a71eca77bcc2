"""The relay switch's sockets: one UDP socket on port 67 for everything received, raw frames for delivery.

Receiving: a single ``AF_INET`` datagram socket bound to ``0.0.0.0:67`` with ``IP_PKTINFO``. The kernel hands
it the clients' broadcasts (source 0.0.0.0: the clients have no address yet) on every access interface and
the server's unicast replies to giaddr:67; the ancillary data says on which interface each arrived.
Sending to the server: the same socket, from port 67 and from the relay's server-side address.
Sending to a client: an ``AF_PACKET`` raw socket per access interface (protocol 0: it receives nothing)
writes a complete Ethernet/IPv4/UDP frame, because a client without an address cannot answer ARP.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import subprocess
from dataclasses import dataclass

from harness.dhcp.codec import SERVER_PORT, DhcpWireError
from harness.dhcp.frames import parse_mac

SOL_IP = socket.IPPROTO_IP
IP_PKTINFO = 8  # linux/in.h; not exported by Python 3.11's socket module
_PKTINFO = struct.Struct("@I4s4s")  # struct in_pktinfo: ifindex, spec_dst, addr
RECV_SIZE = 65535


@dataclass(frozen=True)
class Interface:
    name: str
    index: int
    mac: bytes


def parse_ip_addr_json(text: str) -> dict[ipaddress.IPv4Address, Interface]:
    """IPv4 address → interface, from ``ip -j addr show``. Interfaces without a 6-byte MAC are skipped."""
    out: dict[ipaddress.IPv4Address, Interface] = {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"ip -j addr: not JSON: {exc.msg}") from None
    for link in data if isinstance(data, list) else []:
        try:
            mac = parse_mac(str(link.get("address", "")))
        except (DhcpWireError, ValueError):
            continue
        iface = Interface(str(link["ifname"]), int(link["ifindex"]), mac)
        for a in link.get("addr_info", []):
            if a.get("family") == "inet" and "local" in a:
                out[ipaddress.IPv4Address(a["local"])] = iface
    return out


def interfaces() -> dict[ipaddress.IPv4Address, Interface]:
    """The IPv4 addresses of this network namespace and the interfaces that hold them."""
    proc = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, timeout=10, check=False)
    if proc.returncode != 0:
        raise OSError(f"ip -j addr show failed: {proc.stderr.strip()}")
    return parse_ip_addr_json(proc.stdout)


def ip_forward_enabled() -> bool | None:
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as fh:
            return fh.read().strip() == "1"
    except OSError:
        return None


def enable_ip_forward() -> bool:
    try:
        with open("/proc/sys/net/ipv4/ip_forward", "w") as fh:
            fh.write("1\n")
    except OSError:
        return False
    return ip_forward_enabled() is True


@dataclass(frozen=True)
class Received:
    payload: bytes
    src: tuple[str, int]
    ifindex: int
    dst: ipaddress.IPv4Address  # the IP header's destination


class DhcpSocket:
    """UDP port 67 with the arrival interface of every datagram."""

    def __init__(self, port: int = SERVER_PORT) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sock.setsockopt(SOL_IP, IP_PKTINFO, 1)
        self.sock.bind(("0.0.0.0", port))

    def recv(self, timeout: float) -> Received | None:
        self.sock.settimeout(timeout)
        try:
            data, anc, _flags, src = self.sock.recvmsg(RECV_SIZE, socket.CMSG_SPACE(_PKTINFO.size))
        except TimeoutError:
            return None
        ifindex, dst = 0, ipaddress.IPv4Address(0)
        for level, kind, cdata in anc:
            if level == SOL_IP and kind == IP_PKTINFO and len(cdata) >= _PKTINFO.size:
                ifindex, _spec, addr = _PKTINFO.unpack_from(cdata)
                dst = ipaddress.IPv4Address(addr)
        return Received(data, (str(src[0]), int(src[1])), int(ifindex), dst)

    def send(self, payload: bytes, dst: ipaddress.IPv4Address, port: int, src: ipaddress.IPv4Address) -> None:
        """Send from ``src`` (one of this host's addresses), source port 67."""
        info = _PKTINFO.pack(0, src.packed, b"\x00" * 4)
        self.sock.sendmsg([payload], [(SOL_IP, IP_PKTINFO, info)], 0, (str(dst), port))

    def close(self) -> None:
        self.sock.close()


class FrameSender:
    """Raw Ethernet frames out of one interface."""

    def __init__(self, iface: Interface) -> None:
        self.iface = iface
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.bind((iface.name, 0))

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def close(self) -> None:
        self.sock.close()
