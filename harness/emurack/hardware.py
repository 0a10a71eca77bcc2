"""The emulated rack's hardware: simulated boards, their top-of-rack switch and the rack's server network, on
this host, reached only the way a real rack is.

``RackHardware(lab)`` (a ``LabRun``: labels, teardown, stale-run reaping as the sim lab) starts, for a
``kind: rack`` lab file (``lab.emulated-rack.yaml``):

- each board as a simulated board container (its switch port, its mgmt address), powered off;
- the relay container as the top-of-rack switch: one leg per port (giaddr ``.1``, option 82 per port) and an
  uplink into the rack's server network at ``services.relay.address``;
- the rack's server network itself: a docker bridge (``internal``) standing for the switch's server VLAN,
  and a veth pair whose host end is ``services.managed.interface`` — the "NIC" of the harness host on that
  network, on which the managed services' macvlan sits (``harness.lab.managed``). The bridge's own docker
  subnet is an uplink subnet beside the lab's (docker refuses two networks with one subnet); the relay takes
  its server address on it by hand.

The lab's addresses are never shifted (the lab file names them: its consoles, PoE ports and install addresses
must stay where it says); a busy subnet is an error naming it.
"""

from __future__ import annotations

import ipaddress
import os

from docker.errors import APIError

from harness.lab import links
from harness.lab.docker_lab import LabError, LabRun, Printer, _say
from harness.lab.model import Lab
from harness.lab.services import ContainerSpec


def uplink_subnet(lab: Lab) -> ipaddress.IPv4Network:
    """The docker subnet of the switch's server VLAN bridge: the /24 at .255 of the server network's /16."""
    base = int(lab.networks.server.subnet.network_address) & 0xFFFF0000
    net = ipaddress.IPv4Network((base + (255 << 8), 24))
    clash = [str(s) for s in lab.subnets() if s.overlaps(net)]
    if clash:
        raise LabError(f"{lab.source}: the emulated rack's uplink subnet {net} overlaps {clash}")
    return net


def as_sim(lab: Lab) -> Lab:
    """The lab with its boards as simulated ones (the containers behind the rack boards)."""
    return lab.model_copy(update={"boards": [b.model_copy(update={"kind": "sim"}) for b in lab.boards]})


class RackHardware(LabRun):
    def __init__(self, lab: Lab, *, say: Printer = _say) -> None:
        if lab.services.managed is None:
            raise LabError(f"{lab.source}: an emulated rack needs services.managed (its server network interface)")
        super().__init__(as_sim(lab), services=("relay",), boards=[b.name for b in lab.boards], say=say)
        self.interface = lab.services.managed.interface
        self.uplink = uplink_subnet(lab)

    def subnet_of(self, net: str) -> ipaddress.IPv4Network:
        return self.uplink if net == "server" else super().subnet_of(net)

    def _create_networks(self) -> None:
        self.lab = self.requested
        try:
            for net in self.network_names():
                self._create_network(net)
        except APIError as exc:
            raise LabError(f"the emulated rack's networks ({[str(s) for s in self.lab.subnets()]}, uplink "
                           f"{self.uplink}): {exc.explanation or exc}; is another emulated rack running?") from None
        if links.exists(self.interface):
            raise LabError(f"interface {self.interface} exists already: another emulated rack runs on this host")
        peer = f"{self.interface[:12]}-sw"
        links.ip("link", "add", self.interface, "type", "veth", "peer", "name", peer)
        links.label(self.interface, self.run_id, os.getpid())
        links.label(peer, self.run_id, os.getpid())
        links.ip("link", "set", "dev", peer, "master", self.bridge("server"), "up")
        links.ip("link", "set", "dev", self.interface, "up")

    def _spec(self, role: str) -> ContainerSpec:
        spec = super()._spec(role)
        if role == "relay":
            spec.networks = {"server": None, **{k: v for k, v in spec.networks.items() if k != "server"}}
            server = self.lab.networks.server.subnet
            address = f"{self.lab.services.relay.address}/{server.prefixlen}"
            script = (f"set -e; dev=$(ip -o -4 addr show to {self.uplink} | awk '{{print $2}}'); "
                      f"ip addr replace {address} dev \"$dev\"; exec {' '.join(spec.command)}")
            spec.command = ["sh", "-c", script]
        return spec

    def up(self) -> None:
        links.reap_stale()
        super().up()

    def down(self) -> None:
        try:
            super().down()
        finally:
            links.remove_run(self.run_id)
