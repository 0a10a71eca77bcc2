"""A DHCPv4 load generator that gives every client its own option 82 (issue 14.3), for ``bench.hook``.

perfdhcp randomises one template region only (the chaddr's 6 bytes), so every client it simulates carries the
same option 82; the hook then sees one port identity per chaddr only. This generator acts as a relay agent
(giaddr = the address it runs on, replies arrive on UDP 67) and gives client ``i`` its own chaddr **and** its
own circuit-id (``Gi<i>``), so each exchange is a distinct port to the backend and to the hook's cache.

Open loop: DISCOVERs leave on a fixed schedule (``--rate`` per second for ``--duration`` s); an OFFER is
answered with its REQUEST at once; the run waits ``--timeout`` s for the stragglers. One thread, one socket:
it runs in the lab's runtime image (``python o82gen.py ...``, the harness's codec installed there) on the
load generator's core. Prints one JSON document: offered/completed exchanges, DORA/s, OFFER and ACK latency
percentiles (ms, from each request's send time), and how many ACKs carried option 224 (the backend's options).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import select
import socket
import sys
import time
from typing import Any

from harness.dhcp.codec import (
    BOOTREPLY,
    BOOTREQUEST,
    Bootp,
    DhcpWireError,
    MessageType,
    build_option82,
    decode_bootp,
    encode_bootp,
)

DHCP_SERVER_PORT = 67


def circuit82(i: int, remote: bytes) -> bytes:
    """Client i's option 82: its own circuit-id, the relay's remote-id."""
    return build_option82([(1, f"Gi{i}".encode()), (2, remote)])


def client_mac(i: int) -> bytes:
    return bytes([0x02, 0xCC]) + i.to_bytes(4, "big")


def request(kind: MessageType, i: int, giaddr: str, extra: list[tuple[int, bytes]],
            o82: bytes, guid: bytes | None) -> bytes:
    options: list[tuple[int, bytes]] = [(53, bytes([int(kind)])), *extra]
    if guid is not None:
        options.append((97, guid))
    options.append((82, o82))  # last, as a relay appends it
    msg = Bootp(op=BOOTREQUEST, xid=i, chaddr=client_mac(i), hops=1,
                giaddr=ipaddress.IPv4Address(giaddr), options=options)
    return encode_bootp(msg, min_length=300)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run(server: str, giaddr: str, rate: float, duration: float, timeout: float, guid: bytes | None,
        remote: bytes, port: int = DHCP_SERVER_PORT) -> dict[str, Any]:
    """One open-loop run; ``port`` is the server's and the relay's port (67; another only in tests)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((giaddr, port))
    sock.setblocking(False)
    total = max(1, int(rate * duration))
    sent_d: dict[int, float] = {}
    sent_r: dict[int, float] = {}
    offer_ms: list[float] = []
    ack_ms: list[float] = []
    with224 = 0
    start = time.monotonic()
    nxt = 0
    end = start + duration + timeout
    while time.monotonic() < end and (nxt < total or len(ack_ms) < total):
        now = time.monotonic()
        while nxt < total and start + nxt / rate <= now:
            sent_d[nxt] = time.monotonic()
            sock.sendto(request(MessageType.DISCOVER, nxt, giaddr, [], circuit82(nxt, remote), guid),
                        (server, port))
            nxt += 1
        wait = max(0.0, min(0.005, start + nxt / rate - time.monotonic())) if nxt < total else 0.05
        ready, _, _ = select.select([sock], [], [], wait)
        if not ready:
            continue
        while True:
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                break
            try:
                msg = decode_bootp(data)
            except DhcpWireError:
                continue
            i, kind, t = msg.xid, msg.message_type, time.monotonic()
            if msg.op != BOOTREPLY:
                continue
            if kind == MessageType.OFFER and i in sent_d and i not in sent_r:
                offer_ms.append((t - sent_d[i]) * 1000.0)
                server_id = msg.option(54) or ipaddress.IPv4Address(server).packed
                extra = [(50, msg.yiaddr.packed), (54, server_id)]
                sent_r[i] = time.monotonic()
                sock.sendto(request(MessageType.REQUEST, i, giaddr, extra, circuit82(i, remote), guid),
                            (server, port))
            elif kind == MessageType.ACK and i in sent_r:
                ack_ms.append((t - sent_r.pop(i)) * 1000.0)
                with224 += msg.option(224) is not None
    sock.close()
    return {"offered": total, "offers": len(offer_ms), "acks": len(ack_ms),
            "rate": len(ack_ms) / duration, "acks_with_224": with224,
            "offer_p50": percentile(offer_ms, 0.5), "offer_p99": percentile(offer_ms, 0.99),
            "ack_p50": percentile(ack_ms, 0.5), "ack_p99": percentile(ack_ms, 0.99)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="o82gen.py", description=__doc__.split("\n", 1)[0])
    ap.add_argument("--server", required=True, help="Kea's address")
    ap.add_argument("--giaddr", required=True, help="this container's address (Kea's config relays it)")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--guid", default="", help="option 97 payload in hex (empty: none, a non-matching client)")
    ap.add_argument("--remote-id", default="tor-a-01")
    args = ap.parse_args(argv)
    guid = bytes.fromhex(args.guid) if args.guid else None
    result = run(args.server, args.giaddr, args.rate, args.duration, args.timeout, guid, args.remote_id.encode())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
