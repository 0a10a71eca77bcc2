"""What the relay switch does to a DHCP message, as pure functions (RFC 1542 §4.1, RFC 3046).

Towards the server (:func:`relay_request`): giaddr set to the port's address unless already set, hops + 1,
any option 82 from the client removed (a client must not choose its own port identity) and the port's
option 82 appended as the last option before 255.
Towards the client (:func:`relay_reply`): the port found by giaddr, option 82 removed, and the destination
chosen: broadcast when the broadcast flag is set (or for a NAK, or when there is no address to unicast to),
otherwise unicast to ciaddr or yiaddr at chaddr.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace

from harness.dhcp.codec import (
    BOOTREPLY,
    BOOTREQUEST,
    OPT_RELAY_AGENT,
    SUB_CIRCUIT_ID,
    ZERO_IP,
    Bootp,
    DhcpWireError,
    MessageType,
    decode_bootp,
    encode_bootp,
    parse_option82,
    without_option,
)
from harness.dhcp.frames import BROADCAST_MAC, LIMITED_BROADCAST
from harness.sim.relay.config import Port

# The largest relayed message that still fits one Ethernet frame (1500 - IPv4 20 - UDP 8). RFC 3046 §2.1:
# when the option does not fit, the relay forwards the message without it.
MAX_RELAYED = 1472


class Drop(Exception):
    """The message is not relayed; ``reason`` is a short key for the log, ``detail`` a sentence."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Relayed:
    payload: bytes
    msg: Bootp  # the message as relayed
    client_option82: bool  # the client had sent its own option 82 (removed)
    option82_added: bool  # False only when it did not fit (RFC 3046 §2.1)


@dataclass(frozen=True)
class Delivery:
    port: Port
    payload: bytes
    msg: Bootp  # the message as delivered (without option 82)
    dst_ip: ipaddress.IPv4Address
    dst_mac: bytes
    broadcast: bool
    echoed_circuit: bytes | None  # circuit-id the server echoed back, if any


def _decode(payload: bytes, want_op: int) -> Bootp:
    try:
        msg = decode_bootp(payload)
    except DhcpWireError as exc:
        raise Drop("malformed", str(exc)) from None
    if msg.op != want_op:
        kind = "BOOTREQUEST" if want_op == BOOTREQUEST else "BOOTREPLY"
        raise Drop("wrong_op", f"op {msg.op} where a {kind} was expected")
    return msg


def relay_request(payload: bytes, port: Port, *, max_hops: int = 16) -> Relayed:
    """Transform a client's BOOTREQUEST received on ``port`` into the message sent to the server."""
    msg = _decode(payload, BOOTREQUEST)
    if msg.hops >= max_hops:
        raise Drop("max_hops", f"hops {msg.hops} reached the limit {max_hops}")
    options = without_option(msg.options, OPT_RELAY_AGENT)
    client82 = len(options) != len(msg.options)
    giaddr = msg.giaddr if msg.giaddr != ZERO_IP else port.address
    base = replace(msg, hops=msg.hops + 1, giaddr=giaddr, padding=0)
    if not port.insert_option82:  # a misconfigured switch port (the emulated rack provokes it): relayed bare
        return Relayed(encode_bootp(replace(base, options=options), min_length=len(payload)),
                       replace(base, options=options), client82, False)
    with82 = replace(base, options=[*options, (OPT_RELAY_AGENT, port.option82)])
    # Never shrink the message: what followed the end option (BOOTP's 300-byte padding) absorbs the option.
    out = encode_bootp(with82, min_length=len(payload))
    if len(out) <= MAX_RELAYED:
        return Relayed(out, with82, client82, True)
    without = replace(base, options=options)
    return Relayed(encode_bootp(without, min_length=len(payload)), without, client82, False)


def relay_reply(payload: bytes, ports: Mapping[ipaddress.IPv4Address, Port]) -> Delivery:
    """Transform a server's BOOTREPLY (sent to giaddr) into what is delivered on the client's port."""
    msg = _decode(payload, BOOTREPLY)
    if msg.giaddr == ZERO_IP:
        raise Drop("no_giaddr", "a reply to the relay must carry giaddr")
    port = ports.get(msg.giaddr)
    if port is None:
        raise Drop("unknown_giaddr", f"giaddr {msg.giaddr} is not one of this switch's ports")
    echoed: bytes | None = None
    value = msg.option(OPT_RELAY_AGENT)
    if value is not None:
        try:
            echoed = parse_option82(value).get(SUB_CIRCUIT_ID)
        except DhcpWireError:
            echoed = None
    out_msg = replace(msg, options=without_option(msg.options, OPT_RELAY_AGENT))
    out = encode_bootp(out_msg)
    unicastable = msg.htype == 1 and msg.hlen == 6
    if msg.broadcast or msg.message_type == MessageType.NAK or not unicastable:
        return Delivery(port, out, out_msg, LIMITED_BROADCAST, BROADCAST_MAC, True, echoed)
    dst = msg.ciaddr if msg.ciaddr != ZERO_IP else msg.yiaddr
    if dst == ZERO_IP:
        return Delivery(port, out, out_msg, LIMITED_BROADCAST, BROADCAST_MAC, True, echoed)
    return Delivery(port, out, out_msg, dst, msg.mac, False, echoed)
