"""A relayed DHCP exchange sent with scapy from inside a lab container: the lab's self-check.

Run as ``python -m harness.lab.dhcpprobe --server 10.89.0.2 --giaddr 10.90.1.1 --mac dc:a6:32:00:00:01``
in a container on the server network that holds the relay's address. It acts as relay agent and client at
once: DISCOVER and REQUEST go to the server with giaddr and option 82 set; the replies to giaddr:67 are
captured. Prints one JSON document with every packet seen, decoded by scapy (the codec, ``harness.dhcp``,
builds option 82 and the Pi 4's option 97: scapy stays an independent reader of what Kea sends).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
from typing import Any

from scapy.all import BOOTP, DHCP, IP, UDP, AsyncSniffer, Packet, conf, send  # type: ignore[attr-defined]

from harness.dhcp.codec import SUB_CIRCUIT_ID, SUB_REMOTE_ID, SUB_VENDOR_SPECIFIC, build_option82
from harness.dhcp.frames import parse_mac
from harness.dhcp.pi4 import option97


def _opt82(circuit: bytes, remote: bytes, vendor: bytes | None = None) -> bytes:
    subs = {SUB_CIRCUIT_ID: circuit, SUB_REMOTE_ID: remote}
    if vendor:
        subs[SUB_VENDOR_SPECIFIC] = vendor
    return build_option82(subs)


def decode(pkt: Packet) -> dict[str, Any]:
    bootp = pkt[BOOTP]
    opts: dict[str, Any] = {}
    for item in pkt[DHCP].options:
        if isinstance(item, tuple) and len(item) >= 2:
            key, value = item[0], item[1]
            if isinstance(value, bytes):
                value = value.decode() if value and all(32 <= c < 127 for c in value) else value.hex()
            opts[str(key)] = value
    return {
        "src": pkt[IP].src,
        "dst": pkt[IP].dst,
        "op": int(bootp.op),
        "xid": int(bootp.xid),
        "yiaddr": bootp.yiaddr,
        "giaddr": bootp.giaddr,
        "chaddr": bytes(bootp.chaddr)[:6].hex(":"),
        "options": opts,
    }


def exchange(server: str, giaddr: str, mac: str, circuit: bytes, remote: bytes, timeout: float,
             guid: bytes | None = None, vendor: bytes | None = None) -> dict[str, Any]:
    conf.verb = 0
    xid = random.getrandbits(32)
    chaddr = parse_mac(mac)
    seen: list[dict[str, Any]] = []
    got = threading.Event()
    want: dict[str, Any] = {"type": 2}

    def on_packet(pkt: Packet) -> None:
        if BOOTP in pkt and DHCP in pkt and pkt[BOOTP].xid == xid and pkt[BOOTP].op == 2:
            d = decode(pkt)
            seen.append(d)
            if d["options"].get("message-type") == want["type"]:
                got.set()

    started = threading.Event()
    sniffer = AsyncSniffer(filter="udp and port 67", prn=on_packet, store=False, started_callback=started.set)
    sniffer.start()
    if not started.wait(30):  # an OFFER that comes before the capture socket is open would be lost
        sniffer.stop(join=False)
        return {"xid": xid, "sent": [], "received": [], "ok": False, "error": "the capture did not start"}
    base = IP(src=giaddr, dst=server) / UDP(sport=67, dport=67)
    relay_opt = ("relay_agent_information", _opt82(circuit, remote, vendor))
    client_opts: list[Any] = [(97, guid)] if guid is not None else []
    discover = base / BOOTP(op=1, xid=xid, chaddr=chaddr, giaddr=giaddr, hops=1) / DHCP(
        options=[("message-type", "discover"), *client_opts, relay_opt, "end"]
    )
    sent = [decode(discover)]
    result: dict[str, Any] = {"xid": xid, "sent": sent, "received": seen, "ok": False}
    send(discover)
    if not got.wait(timeout):
        sniffer.stop()
        result["error"] = "no OFFER"
        return result
    offer = next(p for p in seen if p["options"].get("message-type") == 2)
    got.clear()
    want["type"] = 5
    request = base / BOOTP(op=1, xid=xid, chaddr=chaddr, giaddr=giaddr, hops=1) / DHCP(
        options=[
            ("message-type", "request"),
            ("requested_addr", offer["yiaddr"]),
            ("server_id", offer["options"].get("server_id", server)),
            *client_opts,
            relay_opt,
            "end",
        ]
    )
    sent.append(decode(request))
    send(request)
    ok = got.wait(timeout)
    sniffer.stop()
    result["ok"] = ok
    if not ok:
        result["error"] = "no ACK"
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.lab.dhcpprobe", description=__doc__)
    ap.add_argument("--server", required=True)
    ap.add_argument("--giaddr", required=True)
    ap.add_argument("--mac", required=True)
    ap.add_argument("--circuit-id", default="Gi1/0/1")
    ap.add_argument("--remote-id", default="tor-a-01")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--pi-serial", help="send option 97 as a Pi 4 with this serial (8 hex digits)")
    ap.add_argument("--pi-revision", default="c03111")
    ap.add_argument("--vendor-specific", default="", help="option 82 sub-option 9 payload, hex")
    args = ap.parse_args(argv)
    guid = (option97(int(args.pi_serial, 16), int(args.pi_revision, 16), parse_mac(args.mac))
            if args.pi_serial else None)
    out = exchange(args.server, args.giaddr, args.mac, args.circuit_id.encode(), args.remote_id.encode(),
                   args.timeout, guid, bytes.fromhex(args.vendor_specific) or None)
    json.dump(out, sys.stdout)
    print()
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
