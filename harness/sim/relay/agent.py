"""The simulated top-of-rack switch: a DHCP relay agent that inserts option 82 (RFC 1542, RFC 3046).

Run: ``python -m harness.sim.relay --config /etc/malina/relay.json``. The container sits on the server
network and on one access network per switch port, holds each port's gateway address, and forwards IPv4
between them (started with ``net.ipv4.ip_forward=1``; the relay checks it, tries to set it, and logs it).

Config (JSON object; unknown keys are errors)::

    {
      "server_address": "10.89.0.10",  # the relay's address on the server network: source of relayed requests
      "dhcp_server": "10.89.0.2",      # the DHCP server (Kea): requests go to its UDP 67; only its replies count.
                                       #   A list (["10.89.0.2", "10.89.0.6"]: a Kea HA pair) = a switch with one
                                       #   ip helper-address line per server: each request goes to every one,
                                       #   a reply from any of them goes back to the client
      "max_hops": 16,                  # optional (1..255): requests whose hops reached it are dropped
      "ports": [                       # one per switch port, at least one
        {
          "name": "port1",             # for the log
          "address": "10.90.1.1",      # the relay's address on this port's network: giaddr; the interface
                                       #   holding it is the port's interface
          "subnet": "10.90.1.0/24",    # optional; checked to contain address
          "circuit_id": "Gi1/0/1",     # option 82 sub-option 1 (required)
          "remote_id": "hex:0a0b0c",   # sub-option 2 (optional)
          "vendor_specific": null      # sub-option 9 payload (optional; RFC 4243: enterprise number + data)
          "insert_option82": true      # optional; false: relayed WITHOUT option 82 (a misconfigured port)
        }
      ]
    }

Ids are UTF-8 text or ``hex:<digits>`` for binary, 1..255 bytes each, at most 255 bytes of option 82 in all.

Behaviour: a BOOTREQUEST arriving on a port's interface gets giaddr (unless already set), hops + 1, loses
any client-supplied option 82 and gains the port's option 82 just before the end option; it is sent to the
DHCP server from UDP port 67. A BOOTREPLY from the DHCP server (to giaddr:67) is matched to its port by
giaddr, stripped of option 82 and written onto that port as a raw frame: Ethernet and IP broadcast when the
broadcast flag is set (or for a NAK), otherwise to ciaddr/yiaddr at chaddr (a client without an address
cannot answer ARP). Every event is one JSON object per line on stdout; malformed or unexpected packets are
logged and dropped, never fatal.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from harness.dhcp.codec import BOOTREPLY, BOOTREQUEST, CLIENT_PORT, SERVER_PORT
from harness.dhcp.frames import mac_text, udp_frame
from harness.sim.relay import config as relay_config
from harness.sim.relay import net as relay_net
from harness.sim.relay.config import Port, RelayConfig, RelayConfigError
from harness.sim.relay.net import DhcpSocket, FrameSender, Interface, Received
from harness.sim.relay.packet import Drop, relay_reply, relay_request
from harness.wait import Deadline

Log = Callable[..., None]


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout."""
    record = {"ts": round(time.time(), 6), "event": event, **fields}
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


class Relay:
    def __init__(self, config: RelayConfig, *, log: Log = emit, listen_port: int = SERVER_PORT) -> None:
        self.config = config
        self.log = log
        self.by_address = config.port_by_address()
        self.ifaces: dict[str, Interface] = {}  # port name -> interface
        self.senders: dict[str, FrameSender] = {}
        self.ifindex_port: dict[int, Port] = {}
        self.sock = DhcpSocket(listen_port)
        self.servers = [str(server) for server in config.dhcp_servers]
        self.ip_id = 0
        self._last_refresh = 0.0

    # -- interfaces -------------------------------------------------------------------------------------------
    def refresh_interfaces(self) -> list[str]:
        """Find each port's interface by its address; returns the names of ports still missing one."""
        self._last_refresh = time.monotonic()
        try:
            found = relay_net.interfaces()
        except (OSError, ValueError) as exc:
            self.log("error", where="interfaces", detail=str(exc))
            return [p.name for p in self.config.ports]
        missing = []
        for port in self.config.ports:
            iface = found.get(port.address)
            if iface is None:
                missing.append(port.name)
                continue
            if self.ifaces.get(port.name) == iface:
                continue
            old = self.senders.pop(port.name, None)
            if old is not None:
                old.close()
            try:
                self.senders[port.name] = FrameSender(iface)
            except OSError as exc:
                self.log("error", where="raw_socket", port=port.name, interface=iface.name, detail=str(exc))
                missing.append(port.name)
                continue
            self.ifaces[port.name] = iface
            self.log("port", name=port.name, address=str(port.address), interface=iface.name,
                     ifindex=iface.index, mac=mac_text(iface.mac),
                     option82={str(k): v.hex() for k, v in sorted(port.subs.items())})
        self.ifindex_port = {self.ifaces[p.name].index: p for p in self.config.ports if p.name in self.ifaces}
        return missing

    def wait_for_interfaces(self, timeout: float) -> list[str]:
        deadline = Deadline(timeout)
        missing = self.refresh_interfaces()
        while missing and not deadline.expired:
            deadline.sleep(0.2)
            missing = self.refresh_interfaces()
        if missing:
            self.log("error", where="startup", detail=f"no interface holds the address of ports {missing}")
        return missing

    def _port_for_ifindex(self, ifindex: int) -> Port | None:
        port = self.ifindex_port.get(ifindex)
        if port is None and len(self.ifaces) < len(self.config.ports) and time.monotonic() - self._last_refresh > 1:
            self.refresh_interfaces()
            port = self.ifindex_port.get(ifindex)
        return port

    # -- packets ----------------------------------------------------------------------------------------------
    def handle(self, rx: Received) -> None:
        """Relay one datagram received on port 67. Never raises."""
        try:
            self._handle(rx)
        except Drop as d:
            self.log("drop", reason=d.reason, detail=d.detail, src=f"{rx.src[0]}:{rx.src[1]}", ifindex=rx.ifindex,
                     size=len(rx.payload))
        except Exception as exc:  # a bug or a socket error must not stop the switch
            self.log("error", where="handle", detail=f"{type(exc).__name__}: {exc}", src=f"{rx.src[0]}:{rx.src[1]}")

    def _handle(self, rx: Received) -> None:
        if len(rx.payload) < 1:
            raise Drop("malformed", "empty datagram")
        op = rx.payload[0]
        port = self._port_for_ifindex(rx.ifindex)
        if op == BOOTREQUEST:
            if port is None:
                raise Drop("request_not_on_access_port", "BOOTREQUEST from outside the access ports")
            self._relay_request(rx, port)
        elif op == BOOTREPLY:
            if port is not None:
                raise Drop("reply_on_access_port", f"BOOTREPLY arriving on port {port.name}")
            if rx.src[0] not in self.servers:
                raise Drop("reply_not_from_server",
                           f"BOOTREPLY from {rx.src[0]}, not {' or '.join(self.servers)}")
            self._relay_reply(rx)
        else:
            raise Drop("malformed", f"op {op} is neither BOOTREQUEST nor BOOTREPLY")

    def _relay_request(self, rx: Received, port: Port) -> None:
        out = relay_request(rx.payload, port, max_hops=self.config.max_hops)
        for server in self.config.dhcp_servers:
            self.sock.send(out.payload, server, SERVER_PORT, self.config.server_address)
        msg = out.msg
        self.log("request", port=port.name, xid=f"0x{msg.xid:08x}", type=msg.type_name, chaddr=mac_text(msg.mac),
                 giaddr=str(msg.giaddr), hops=msg.hops, src=f"{rx.src[0]}:{rx.src[1]}",
                 client_option82_removed=out.client_option82, option82_added=out.option82_added,
                 size=len(out.payload))

    def _relay_reply(self, rx: Received) -> None:
        d = relay_reply(rx.payload, self.by_address)
        sender = self.senders.get(d.port.name)
        iface = self.ifaces.get(d.port.name)
        if sender is None or iface is None:
            self.refresh_interfaces()
            sender, iface = self.senders.get(d.port.name), self.ifaces.get(d.port.name)
            if sender is None or iface is None:
                raise Drop("port_down", f"no interface for port {d.port.name}")
        self.ip_id = (self.ip_id + 1) & 0xFFFF or 1
        frame = udp_frame(src_mac=iface.mac, dst_mac=d.dst_mac, src_ip=d.port.address, dst_ip=d.dst_ip,
                          sport=SERVER_PORT, dport=CLIENT_PORT, payload=d.payload, ip_id=self.ip_id)
        sender.send(frame)
        circuit = d.port.subs.get(1)
        mismatch = d.echoed_circuit is not None and d.echoed_circuit != circuit
        self.log("reply", port=d.port.name, server=rx.src[0], xid=f"0x{d.msg.xid:08x}", type=d.msg.type_name,
                 yiaddr=str(d.msg.yiaddr), dst_ip=str(d.dst_ip), dst_mac=mac_text(d.dst_mac),
                 broadcast=d.broadcast, option82_echoed=d.echoed_circuit is not None,
                 circuit_mismatch=mismatch, size=len(d.payload))

    # -- main loop --------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                rx = self.sock.recv(0.5)
            except OSError as exc:
                self.log("error", where="recv", detail=str(exc))
                time.sleep(0.1)
                continue
            if rx is not None:
                self.handle(rx)

    def close(self) -> None:
        self.sock.close()
        for s in self.senders.values():
            s.close()


def check_forwarding(log: Log) -> bool:
    state = relay_net.ip_forward_enabled()
    if state is True:
        log("ip_forward", enabled=True)
        return True
    ok = relay_net.enable_ip_forward()
    log("ip_forward", enabled=ok, action="set" if ok else "set_failed", was=state)
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.sim.relay", description="DHCP relay switch with option 82")
    ap.add_argument("--config", type=Path, required=True, help="relay JSON config (see the module docstring)")
    ap.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the ports' interfaces")
    args = ap.parse_args(argv)
    try:
        config = relay_config.load(args.config)
    except RelayConfigError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        emit("fatal", detail=str(exc))
        return 2
    check_forwarding(emit)
    try:
        relay = Relay(config)
    except OSError as exc:
        emit("fatal", detail=f"cannot bind UDP {SERVER_PORT}: {exc}")
        return 1
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    relay.wait_for_interfaces(args.wait)
    emit("ready", server_address=str(config.server_address), dhcp_server=[str(s) for s in config.dhcp_servers],
         ports=[p.name for p in config.ports], listening=f"0.0.0.0:{SERVER_PORT}")
    try:
        relay.run(stop)
    finally:
        relay.close()
        emit("stopped")
    return 0

