"""The desk lab's switch: the harness host itself relays DHCP for a board plugged straight into one of its
interfaces, adding the option 82 of that port, as a top-of-rack switch would (docs/DESK.md).

    python -m harness.deskrelay --lab lab.desk.yaml --interface enx00e04c680001 [-- COMMAND...]

- puts the port's gateway (``.1`` of its ``switch.ports`` subnet: the board's router and the giaddr) on
  ``--interface`` — the host's NIC (often a USB Ethernet adapter) whose cable goes to the board — and brings it up;
- runs the sim's relay (``harness.sim.relay``: option 82 per port, replies back onto the port) there, with
  ``services.relay.address`` as its server-side address: on a desk that is ``services.managed.host_address``,
  the host's own macvlan beside the managed services (it appears when the session starts them);
- with COMMAND: runs it (the scenarios) and then ends the relay (by its PID) and removes the address it added;
  without: relays until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.lab import links
from harness.lab.docker_lab import LabError
from harness.lab.model import Lab, LabConfigError, load_lab
from harness.lab.services import relay_config


def port_config(lab: Lab, port: str | None) -> dict[str, Any]:
    """The relay's config for one port of the lab (the one the board is cabled to)."""
    config = relay_config(lab)
    ports = [p for p in config["ports"] if port is None or p["name"] == port]
    if port is None and len(ports) != 1:
        raise LabError(f"{lab.source}: the lab has {len(ports)} switch ports: say which with --port")
    if not ports:
        raise LabError(f"{lab.source}: no switch port {port!r}")
    return {**config, "ports": ports[:1]}


def _forwarding(interface: str, add: bool) -> None:
    """Let the host forward between the board's interface and the managed services' host macvlan (``mlh*``):
    a docker host drops forwarded packets by default. The rules name the two interfaces only."""
    chain = "DOCKER-USER" if subprocess.run(["iptables", "-w", "5", "-n", "-L", "DOCKER-USER"],
                                            capture_output=True, timeout=30).returncode == 0 else "FORWARD"
    for rule in (["-i", interface, "-o", "mlh+", "-j", "ACCEPT"], ["-i", "mlh+", "-o", interface, "-j", "ACCEPT"]):
        present = subprocess.run(["iptables", "-w", "5", "-C", chain, *rule], capture_output=True,
                                 timeout=30).returncode == 0
        if add and not present:
            subprocess.run(["iptables", "-w", "5", "-I", chain, *rule], capture_output=True, timeout=30, check=False)
        elif not add and present:
            subprocess.run(["iptables", "-w", "5", "-D", chain, *rule], capture_output=True, timeout=30, check=False)


def _has_address(interface: str, address: str) -> bool:
    return f" {address} " in f" {links.ip('-o', '-4', 'addr', 'show', 'dev', interface)} "


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.deskrelay", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lab", required=True)
    ap.add_argument("--interface", required=True, help="the host interface cabled to the board")
    ap.add_argument("--port", default=None, help="switch port of the lab file (default: its only one)")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        lab = load_lab(args.lab)
        config = port_config(lab, args.port)
        if not links.exists(args.interface):
            raise LabError(f"no interface {args.interface!r} on this host")
    except (LabError, LabConfigError) as exc:
        print(f"desk relay: {exc}", file=sys.stderr)
        return 1
    port = lab.switch.port(str(config["ports"][0]["name"]))
    address = f"{port.gateway}/{port.subnet.prefixlen}"
    added = not _has_address(args.interface, address)
    if added:
        links.ip("addr", "add", address, "dev", args.interface)
    links.ip("link", "set", "dev", args.interface, "up")
    _forwarding(args.interface, True)
    with tempfile.TemporaryDirectory(prefix="malina-desk-") as tmp:
        path = Path(tmp) / "relay.json"
        path.write_text(json.dumps(config, indent=2) + "\n")
        relay = subprocess.Popen([sys.executable, "-m", "harness.sim.relay", "--config", str(path), "--wait", "10"])
        try:
            if command:
                return subprocess.call(command)
            return relay.wait()
        except KeyboardInterrupt:
            return 130
        finally:
            if relay.poll() is None:
                os.kill(relay.pid, signal.SIGTERM)  # the relay this command started, by its PID
                try:
                    relay.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    relay.kill()
                    relay.wait(timeout=5)
            _forwarding(args.interface, False)
            if added:
                links.ip("addr", "del", address, "dev", args.interface, check=False)


if __name__ == "__main__":
    sys.exit(main())
