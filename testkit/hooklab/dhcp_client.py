"""Relay agent + DHCP client in one, with scapy: runs inside a lab container that holds the relay's address.

``python dhcp_client.py <spec.json>`` reads::

    {"server": "10.89.0.2", "timeout": 5.0, "parallel": false,
     "exchanges": [{"name": "a", "giaddr": "10.90.1.1", "mac": "dc:a6:32:00:00:01", "request": true,
                    "options": {"82": "<hex payload>", "97": "<hex>", "77": "<hex>"}}]}

and prints one JSON document: per exchange the OFFER and ACK options (code → hex; a long option split over
several TLVs joined, RFC 3396), yiaddr and the latency of each reply in ms. Option payloads are sent exactly
as given (so option 82 can be malformed on purpose). Replies come back to giaddr:67 through the route Kea has
via the relay address. Messages are built and read with ``harness.dhcp.codec`` (the runtime image carries the
harness); scapy only sends and captures.
"""

from __future__ import annotations

import ipaddress
import json
import random
import socket
import sys
import threading
import time
from typing import Any

from scapy.all import IP, UDP, AsyncSniffer, Packet, Raw, conf, send  # type: ignore[attr-defined]

from harness.dhcp.codec import (
    BOOTREPLY,
    BOOTREQUEST,
    Bootp,
    DhcpWireError,
    MessageType,
    decode_bootp,
    encode_bootp,
    join_options,
)
from harness.dhcp.frames import parse_mac


class Client:
    def __init__(self, server: str, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self.lock = threading.Lock()
        self.waiting: dict[tuple[int, int], tuple[threading.Event, list[Any]]] = {}
        conf.verb = 0
        started = threading.Event()
        self.sniffer = AsyncSniffer(filter="udp and dst port 67", prn=self.on_packet, store=False,
                                    started_callback=started.set)
        self.sniffer.start()
        # replies to a packet sent before the capture socket is open would be lost (a loaded machine can
        # take seconds to start scapy's capture): wait for it
        if not started.wait(30):
            raise SystemExit("dhcp_client: the capture did not start within 30 s")

    def on_packet(self, pkt: Packet) -> None:
        if UDP not in pkt:
            return
        try:
            msg = decode_bootp(bytes(pkt[UDP].payload))
        except DhcpWireError:
            return  # not a DHCP reply this client can read
        if msg.op != BOOTREPLY:
            return
        opts = {str(code): value.hex() for code, value in join_options(msg.options).items()}
        mtype = msg.message_type or 0
        key = (msg.xid, MessageType.OFFER if mtype == MessageType.OFFER else MessageType.ACK)
        with self.lock:
            slot = self.waiting.get(key)
        if slot is not None and not slot[0].is_set():
            slot[1].append({"time": float(pkt.time), "options": opts, "yiaddr": str(msg.yiaddr), "type": mtype})
            slot[0].set()

    def _send_wait(self, xid: int, want: int, packet: Packet,
                   resends: int = 0) -> tuple[dict[str, Any] | None, float]:
        """Send and wait for the reply; ``resends``: send the same packet again that many times, evenly within
        the timeout, while no reply has come (a real client retransmits; the latency counts from the first)."""
        event: threading.Event = threading.Event()
        box: list[Any] = []
        with self.lock:
            self.waiting[(xid, want)] = (event, box)
        t0 = time.time()
        send(packet)
        for _ in range(resends):
            if event.wait(self.timeout / (resends + 1)):
                break
            send(packet)
        event.wait(max(0.0, t0 + self.timeout - time.time()))
        with self.lock:
            self.waiting.pop((xid, want), None)
        if not box:
            return None, -1.0
        return box[0], (box[0]["time"] - t0) * 1000.0

    def exchange(self, spec: dict[str, Any]) -> dict[str, Any]:
        xid = random.getrandbits(32)
        giaddr = spec["giaddr"]
        chaddr = parse_mac(spec["mac"])
        extra = [(int(code), bytes.fromhex(value)) for code, value in spec.get("options", {}).items()]
        base = IP(src=giaddr, dst=self.server) / UDP(sport=67, dport=67)

        def bootp(options: list[tuple[int, bytes]]) -> Packet:
            msg = Bootp(op=BOOTREQUEST, xid=xid, chaddr=chaddr, hops=1, giaddr=ipaddress.IPv4Address(giaddr),
                        options=options)
            packet: Packet = Raw(encode_bootp(msg))
            return packet

        result: dict[str, Any] = {"name": spec.get("name"), "xid": xid, "offer": None, "ack": None,
                                  "offer_ms": -1.0, "ack_ms": -1.0, "yiaddr": None}
        discover = [(53, bytes([MessageType.DISCOVER])), *extra]
        offer, result["offer_ms"] = self._send_wait(xid, MessageType.OFFER, base / bootp(discover))
        if offer is None:
            return result
        result["offer"] = offer["options"]
        result["yiaddr"] = offer["yiaddr"]
        if not spec.get("request", True):
            return result
        server_id = bytes.fromhex(offer["options"].get("54", socket.inet_aton(self.server).hex()))
        request = [(53, bytes([MessageType.REQUEST])), (50, socket.inet_aton(offer["yiaddr"])), (54, server_id),
                   *extra]
        # the REQUEST is retransmitted as a real client does (a lost REQUEST or ACK on a loaded host is not what
        # the tests look at); the DISCOVER is not: tests of drops and the failure policy read its silence
        ack, result["ack_ms"] = self._send_wait(xid, MessageType.ACK, base / bootp(request), resends=2)
        if ack is not None:
            result["ack"] = ack["options"]
            result["ack_type"] = ack["type"]
        return result

    def run(self, exchanges: list[dict[str, Any]], parallel: bool) -> list[dict[str, Any]]:
        if not parallel:
            return [self.exchange(e) for e in exchanges]
        results: list[dict[str, Any]] = [{} for _ in exchanges]

        def work(i: int) -> None:
            results[i] = self.exchange(exchanges[i])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(exchanges))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def close(self) -> None:
        self.sniffer.stop()


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    client = Client(spec["server"], float(spec.get("timeout", 5.0)))
    try:
        results = client.run(spec["exchanges"], bool(spec.get("parallel", False)))
    finally:
        client.close()
    json.dump({"results": results}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
