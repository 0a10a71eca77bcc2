"""Managed services on a rack: the harness runs Kea (with the hook), the backend, the TFTP server and the file
server itself, from the images the sim uses (the build under test), beside real boards.

``ManagedRun(lab, workdir=...)`` is a ``LabRun`` whose one network is a docker **macvlan** on the host's
interface on the rack's server network (lab.yaml ``services.managed.interface``): each service is a station of
that network at its ``services.*`` address, as if it were a machine plugged into the switch, so the switch's
relay reaches Kea and the boards reach TFTP, the files and the backend. Containers and the network carry the
run's labels, go at the end of the run (exit, exception, SIGINT, SIGTERM) and a dead run's leftovers are
reaped by the next one, exactly as in the sim lab. The host's own macvlan (``services.managed.host_address``,
labelled with the run, ``harness.lab.links``) lets the harness reach the services: a host cannot talk to its
macvlans through their parent interface.

The macvlan network is not docker-``internal`` (docker would then swap the parent for a dummy): what it
carries stays on the rack's server network, which the parent interface is; nothing is routed or NATed by the
host. The services route the boards' access subnets via the switch (``services.relay.address``).
"""

from __future__ import annotations

import os
from pathlib import Path

from docker.types import IPAMConfig, IPAMPool

from harness.lab import links
from harness.lab.docker_lab import LabError, LabRun, Printer, _say
from harness.lab.model import Lab
from harness.lab.services import ContainerSpec

MANAGED = ("kea", "backend", "tftp", "files")


class ManagedRun(LabRun):
    """Kea, backend, TFTP and files as containers on a macvlan of the rack host's server-network interface."""

    def __init__(self, lab: Lab, *, workdir: Path, tftp_root: Path | None = None, files_root: Path | None = None,
                 say: Printer = _say) -> None:
        if lab.services.managed is None:
            raise LabError(f"{lab.source}: services.managed is not set: the rack's services are not the harness's")
        super().__init__(lab, services=MANAGED, workdir=workdir, say=say)
        self.managed = lab.services.managed
        self.tftp_root = tftp_root  # default: <workdir>/tftp, staged by the session
        self.files_root = files_root
        self.host_link: str | None = None

    def network_names(self) -> list[str]:
        return ["server"]

    def _create_networks(self) -> None:
        parent = self.managed.interface
        if self.managed.dummy and not links.exists(parent):  # a desk: the server network is this host's alone
            links.ip("link", "add", parent, "type", "dummy")
            links.label(parent, self.run_id, 0 if self.detached else os.getpid())
            links.ip("link", "set", "dev", parent, "up")
        if not links.exists(parent):
            raise LabError(f"services.managed.interface {parent!r}: no such interface on this host")
        self.lab = self.requested  # a rack's addresses are the rack's: never shifted
        subnet = self.lab.networks.server.subnet
        pool = IPAMPool(subnet=str(subnet), gateway=str(self.lab.services.relay.address))
        try:
            self.networks["server"] = self.client.networks.create(
                self.name("server"), driver="macvlan", options={"parent": parent, "macvlan_mode": "bridge"},
                ipam=IPAMConfig(pool_configs=[pool]), labels={**self.labels(), "malina.net": "server"},
                check_duplicate=True)
        except Exception as exc:  # docker's APIError, or its refusal of an overlapping pool
            raise LabError(f"the managed services' macvlan on {parent} ({subnet}): {exc}") from None
        if self.managed.host_address is not None:
            self._host_macvlan(parent, subnet.prefixlen)

    def _host_macvlan(self, parent: str, prefixlen: int) -> None:
        name = f"mlh{self.run_id[:8]}"
        links.ip("link", "add", name, "link", parent, "type", "macvlan", "mode", "bridge")
        self.host_link = name
        links.label(name, self.run_id, 0 if self.detached else os.getpid())
        links.ip("addr", "add", f"{self.managed.host_address}/{prefixlen}", "dev", name)
        links.ip("link", "set", "dev", name, "up")

    def _spec(self, role: str) -> ContainerSpec:
        spec = super()._spec(role)
        if role == "tftp" and self.tftp_root is not None:
            spec.binds = {str(self.tftp_root.resolve()) if h == str(self.workdir / "tftp") else h: c
                          for h, c in spec.binds.items()}
        if role == "files" and self.files_root is not None:
            spec.binds = {str(self.files_root.resolve()): "/srv/files:ro"}
        return spec

    def up(self) -> None:
        links.reap_stale()
        super().up()

    def down(self) -> None:
        try:
            super().down()
        finally:
            links.remove_run(self.run_id)
