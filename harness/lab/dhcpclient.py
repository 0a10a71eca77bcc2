"""A plain DHCP client exchange (DISCOVER/REQUEST broadcast from 0.0.0.0) sent with scapy on an access network.

Run inside a lab container attached to a switch port's network:
``python -m harness.lab.dhcpclient --iface eth0 --mac dc:a6:32:00:00:01``. Prints one JSON document with the
OFFER and ACK as received (after the relay stripped option 82).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any

from scapy.all import BOOTP, DHCP, IP, UDP, Ether, conf, srp1  # type: ignore[attr-defined]

from harness.lab.dhcpprobe import decode


def _ask(iface: str, mac: str, xid: int, options: list[Any], timeout: float) -> dict[str, Any] | None:
    chaddr = bytes.fromhex(mac.replace(":", ""))
    pkt = (
        Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(op=1, xid=xid, chaddr=chaddr, flags=0x8000)
        / DHCP(options=options)
    )
    for _ in range(3):
        reply = srp1(pkt, iface=iface, timeout=timeout, verbose=0,
                     filter=f"udp and dst port 68 and ether dst {mac} or ether dst ff:ff:ff:ff:ff:ff")
        if reply is not None and BOOTP in reply and reply[BOOTP].xid == xid:
            return decode(reply)
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.lab.dhcpclient", description=__doc__)
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--mac", required=True)
    ap.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args(argv)
    conf.checkIPaddr = False
    xid = random.getrandbits(32)
    result: dict[str, Any] = {"xid": xid, "ok": False}
    offer = _ask(args.iface, args.mac, xid, [("message-type", "discover"), "end"], args.timeout)
    result["offer"] = offer
    if offer is not None:
        ack = _ask(args.iface, args.mac, xid, [("message-type", "request"), ("requested_addr", offer["yiaddr"]),
                                               ("server_id", offer["options"].get("server_id")), "end"],
                   args.timeout)
        result["ack"] = ack
        result["ok"] = ack is not None and ack["options"].get("message-type") == 5
    json.dump(result, sys.stdout)
    print()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
