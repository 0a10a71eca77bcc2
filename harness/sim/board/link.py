"""The board's access interface as the bootloader drives it: raw Ethernet frames (AF_PACKET), ARP, and the
interface address the bootloader's IP stack would hold (``ip addr``/``ip route``, so that TFTP can use the
kernel's UDP sockets and the installer inherits a configured interface, as Linux inherits nothing on a real
Pi but renews it with its own DHCP client anyway)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import select
import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.wait import Deadline

ETH_P_ALL = 0x0003
ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800


class LinkError(RuntimeError):
    """The interface cannot be used (missing, no permission, ``ip`` failed)."""


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def ip_cmd(*args: str) -> None:
    try:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LinkError(f"ip {' '.join(args)}: {exc}") from None
    if proc.returncode != 0:
        raise LinkError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def flush(iface: str) -> None:
    """Forget every IPv4 address and route of the interface (power off: the board's IP stack is gone)."""
    ip_cmd("-4", "addr", "flush", "dev", iface)
    with contextlib.suppress(LinkError):
        ip_cmd("-4", "route", "flush", "dev", iface)
    with contextlib.suppress(LinkError):
        ip_cmd("-4", "neigh", "flush", "dev", iface)


def iface_with_address(ip: str) -> str | None:
    """The interface that carries ``ip`` (``ip -j -4 addr``), or None."""
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, timeout=10, check=True).stdout
        links = json.loads(out or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    for link in links:
        if any(a.get("local") == ip for a in link.get("addr_info", [])):
            return str(link.get("ifname"))
    return None


def claim_name(iface: str, mgmt_ip: str) -> None:
    """Make ``iface`` the access interface: docker orders a container's interfaces by its own rules, so when the
    mgmt address sits on ``iface``, the two interfaces swap names (addresses and routes stay with the links)."""
    holder = iface_with_address(mgmt_ip) if mgmt_ip else None
    if holder is None or holder != iface:
        return
    others = [p.name for p in Path("/sys/class/net").iterdir() if p.name not in ("lo", iface)]
    if len(others) != 1:
        raise LinkError(f"cannot tell the access interface among {sorted(others)}")
    other = others[0]
    tmp = "mlbswap0"
    for a, b in ((iface, tmp), (other, iface), (tmp, other)):
        ip_cmd("link", "set", "dev", a, "down")
        ip_cmd("link", "set", "dev", a, "name", b)
    for name in (iface, other):  # addresses stay with their links; the on-link routes come back with "up"
        ip_cmd("link", "set", "dev", name, "up")


def set_mac(iface: str, mac: str) -> None:
    """Give the interface the board's MAC (docker 20.10 ignores a container MAC address for a container
    created on a user-defined network, so the board sets its own, as the Pi's OTP gives it one)."""
    if mac_text(iface_mac(iface)) == mac.lower():
        return
    ip_cmd("link", "set", "dev", iface, "down")
    try:
        ip_cmd("link", "set", "dev", iface, "address", mac)
    finally:
        ip_cmd("link", "set", "dev", iface, "up")


def configure(iface: str, ip: str, mask: str, router: str | None) -> None:
    prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
    flush(iface)
    ip_cmd("addr", "add", f"{ip}/{prefix}", "dev", iface)
    ip_cmd("link", "set", "dev", iface, "up")
    if router:
        ip_cmd("route", "replace", "default", "via", router, "dev", iface)


def link_up(iface: str) -> bool:
    try:
        return Path(f"/sys/class/net/{iface}/operstate").read_text().strip() in ("up", "unknown")
    except OSError:
        return False


def link_speed(iface: str) -> int:
    try:
        speed = int(Path(f"/sys/class/net/{iface}/speed").read_text().strip())
    except (OSError, ValueError):
        return 1000
    return speed if speed > 0 else 1000


def iface_mac(iface: str) -> bytes:
    try:
        text = Path(f"/sys/class/net/{iface}/address").read_text().strip()
    except OSError as exc:
        raise LinkError(f"no interface {iface}: {exc.strerror}") from None
    return bytes.fromhex(text.replace(":", ""))


@dataclass
class RawLink:
    """AF_PACKET socket bound to one interface: whole Ethernet frames in and out."""

    iface: str

    def __post_init__(self) -> None:
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            self.sock.bind((self.iface, 0))
        except OSError as exc:
            raise LinkError(f"raw socket on {self.iface}: {exc.strerror} (needs NET_RAW)") from None
        self.sock.setblocking(False)

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def recv(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return None
        try:
            data, addr = self.sock.recvfrom(65536)
        except BlockingIOError:
            return None
        if addr[2] == socket.PACKET_OUTGOING:
            return None
        return data

    def drain(self) -> None:
        while self.recv(0) is not None:
            pass

    def close(self) -> None:
        self.sock.close()


def arp_resolve(
    link: RawLink, mac: bytes, my_ip: str, target: str, timeout: float, retry: float
) -> bytes | None:
    """Ask who has ``target`` (the TFTP server, or the router when it is off-link); the MAC or None."""
    sip = ipaddress.IPv4Address(my_ip).packed
    tip = ipaddress.IPv4Address(target).packed
    arp = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, mac, sip, b"\0" * 6, tip)
    frame = b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP) + arp + b"\0" * 18
    deadline = Deadline(timeout)
    while not deadline.expired:
        link.send(frame)
        slot = Deadline(min(retry, deadline.remaining))  # until the next ARP request
        while not slot.expired:
            got = link.recv(slot.remaining)
            if got is None or len(got) < 42 or got[12:14] != struct.pack("!H", ETH_P_ARP):
                continue
            op = struct.unpack("!H", got[20:22])[0]
            if op == 2 and got[28:32] == tip:
                return bytes(got[22:28])
    return None
