"""The bootloader's DHCP exchange (DISCOVER → OFFER → REQUEST → ACK) over a frame link.

One call of ``DhcpClient.run()`` is one network-boot attempt's DHCP phase, bounded by DHCP_TIMEOUT; packets
are (re)sent at ``retransmit_offsets`` (DHCP_REQ_TIMEOUT based). Every reply that matches our xid and MAC is
reported to the console (``DHCP src: …`` block), usable or not. An OFFER is usable when it offers an address
and says where to boot from: option 66, or option 43 with the PXE_OPTION43 menu entry [NST, DOC-BL]; a
proxyDHCP reply (yiaddr 0 with the PXE menu) supplies the TFTP server for an address from another server
[E376]. Options 67 and ``file`` are ignored [F1850, E69].

Bracketed keys ([DOC-BL], [W-E58], …) name the sources listed at the end of tests/data/pi4/SPEC.md.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from harness.dhcp.codec import DhcpWireError, MessageType
from harness.sim.bootloader.config import EepromConfig
from harness.sim.bootloader.dhcp import (
    DhcpReply,
    broadcast_frame,
    discover_payload,
    parse_reply,
    request_payload,
    retransmit_offsets,
)
from harness.sim.bootloader.events import Clock, Uart

# Sim-only EEPROM key, a what-if for tests (no real bootloader knows it): ``SIM_OPTION66_ZERO=ignore`` models a
# release that would skip option 66 = "0.0.0.0" and take the next source of a TFTP server (proxy, siaddr) instead
# of failing — the case the default boot-local method guards against with the TFTP gate (issue 19).
WHAT_IF_ZERO = "SIM_OPTION66_ZERO"


class Link(Protocol):
    """A raw Ethernet link (AF_PACKET in the board, a fake neighbour in tests)."""

    def send(self, frame: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes | None: ...


@dataclass(frozen=True)
class Lease:
    ip: str
    mask: str
    router: str | None
    server_id: str | None
    tftp: str | None  # None: no usable TFTP server named (or option 66 = 0.0.0.0)
    tftp_source: str  # "TFTP_IP", "option66", "proxy", "siaddr" or "none"
    server_mac: str


@dataclass
class DhcpClient:
    link: Link
    clock: Clock
    uart: Uart
    config: EepromConfig
    mac: bytes
    opt97: bytes
    time_factor: float
    xid: int = 0

    def __post_init__(self) -> None:
        if not self.xid:
            self.xid = random.randint(1, 0xFFFFFFFF)  # random per boot [W-E58, W-T183]

    def _seconds(self, ms: int) -> float:
        return ms / 1000.0 * self.time_factor

    def _frame(self, payload: bytes) -> bytes:
        return broadcast_frame(self.mac, payload)

    def _mine(self, frame: bytes) -> DhcpReply | None:
        try:
            reply = parse_reply(frame)
        except DhcpWireError:
            return None
        if reply.xid != self.xid or reply.chaddr != self.mac:
            return None
        return reply

    def _usable_offer(self, reply: DhcpReply) -> bool:
        return reply.yiaddr != "0.0.0.0" and (
            reply.get(66) is not None or reply.has_pxe_menu(self.config.pxe_option43)
        )

    def _is_proxy(self, reply: DhcpReply) -> bool:
        return reply.yiaddr == "0.0.0.0" and reply.has_pxe_menu(self.config.pxe_option43)

    def run(self) -> Lease | None:
        """One DHCP phase. None: no lease within DHCP_TIMEOUT."""
        deadline = self.clock.monotonic() + self._seconds(self.config.dhcp_timeout_ms)
        offsets = retransmit_offsets(
            self._seconds(self.config.dhcp_req_timeout_ms), self._seconds(self.config.dhcp_timeout_ms)
        )
        proxy: DhcpReply | None = None
        while self.clock.monotonic() < deadline:
            offer, proxy = self._discover(deadline, offsets, proxy)
            if offer is None:
                return None
            ack = self._request(offer, deadline, offsets)
            if ack is None:
                return None
            if ack.msg_type == MessageType.NAK:
                continue
            return self._lease(offer, ack, proxy)
        return None

    def _wait(
        self, until: float, expect: int, on_reply: dict[str, DhcpReply | None]
    ) -> DhcpReply | None:
        """Receive until ``until``; report every reply of ours; return the first one of type ``expect``
        that is usable (an OFFER) or any ACK/NAK (for a REQUEST)."""
        expect_name = "OFFER" if expect == MessageType.OFFER else "ACK"
        while True:
            left = until - self.clock.monotonic()
            if left <= 0:
                return None
            frame = self.link.recv(left)
            if frame is None:
                continue
            reply = self._mine(frame)
            if reply is None:
                continue
            self.uart.event("dhcp_reply", reply=reply, expect=expect_name)
            if expect == MessageType.OFFER and reply.msg_type == MessageType.OFFER:
                if self._is_proxy(reply):
                    on_reply["proxy"] = reply
                    if on_reply.get("plain") is not None:
                        return on_reply["plain"]
                    continue
                if self._usable_offer(reply):
                    return reply
                if reply.yiaddr != "0.0.0.0" and on_reply.get("proxy") is not None:
                    return reply
                if reply.yiaddr != "0.0.0.0":
                    on_reply["plain"] = reply  # usable once a proxy names the boot server
            elif expect == MessageType.ACK and reply.msg_type in (MessageType.ACK, MessageType.NAK):
                return reply

    def _discover(
        self, deadline: float, offsets: list[float], proxy: DhcpReply | None
    ) -> tuple[DhcpReply | None, DhcpReply | None]:
        start = self.clock.monotonic()
        seen: dict[str, DhcpReply | None] = {"proxy": proxy, "plain": None}
        payload = discover_payload(self.xid, self.mac, self.opt97)
        for i, _offset in enumerate(offsets):
            self.link.send(self._frame(payload))
            until = deadline if i + 1 >= len(offsets) else min(deadline, start + offsets[i + 1])
            got = self._wait(until, MessageType.OFFER, seen)
            if got is not None:
                return got, seen["proxy"]
            if self.clock.monotonic() >= deadline:
                break
        return None, seen["proxy"]

    def _request(self, offer: DhcpReply, deadline: float, offsets: list[float]) -> DhcpReply | None:
        start = self.clock.monotonic()
        payload = request_payload(self.xid, self.mac, self.opt97, offer.yiaddr, offer.ip_option(54))
        for i, _offset in enumerate(offsets):
            if self.clock.monotonic() >= deadline:
                break
            self.link.send(self._frame(payload))
            until = deadline if i + 1 >= len(offsets) else min(deadline, start + offsets[i + 1])
            got = self._wait(until, MessageType.ACK, {})
            if got is not None:
                return got
        return None

    def _lease(self, offer: DhcpReply, ack: DhcpReply, proxy: DhcpReply | None) -> Lease:
        mask = ack.ip_option(1) or offer.ip_option(1) or "255.255.255.0"
        router = ack.ip_option(3) or offer.ip_option(3)
        tftp: str | None
        source: str
        opt66 = ack.get(66) if ack.get(66) is not None else offer.get(66)
        if opt66 is not None and self.config.raw.get(WHAT_IF_ZERO) == "ignore" \
                and (ack if ack.get(66) is not None else offer).tftp_option == "0.0.0.0":
            opt66 = None  # the what-if release: 0.0.0.0 is no server, look further (proxy, siaddr)
        if self.config.tftp_ip:
            tftp, source = self.config.tftp_ip, "TFTP_IP"  # "overrides the server-ip" [DOC-BL]
        elif opt66 is not None:
            tftp = (ack if ack.get(66) is not None else offer).tftp_option
            source = "option66"
        elif proxy is not None:
            tftp, source = (proxy.ip_option(54) or proxy.src_ip), "proxy"
        elif ack.siaddr != "0.0.0.0":
            # precedence siaddr vs. the replying server is inferred, not documented [SPEC.md (a)]
            tftp, source = ack.siaddr, "siaddr"
        else:
            tftp, source = None, "none"
        if tftp == "0.0.0.0":
            # Option 66 = "0.0.0.0" (boot-local by opt66-zero): ASSUMED. No evidence of the real behaviour exists
            # [SPEC.md (a)]; issue 6 asks that it makes the network attempt fail (the backend's "boot locally"
            # answer). Issue 19's default also closes the TFTP gate, for a release that would not fail here.
            tftp = None
        return Lease(
            ip=ack.yiaddr if ack.yiaddr != "0.0.0.0" else offer.yiaddr,
            mask=mask,
            router=router,
            server_id=ack.ip_option(54) or offer.ip_option(54),
            tftp=tftp,
            tftp_source=source,
            server_mac=ack.src_mac,
        )
