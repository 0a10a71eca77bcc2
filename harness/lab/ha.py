"""A Kea high-availability pair made from a lab without one: the same lab with ``services.kea.ha`` set.

The HA scenario and operators trying the option use it on the default lab.yaml (one source of truth for the
boards and addresses); a lab file can also carry its own ``services.kea.ha`` (docs/KEA-HA.md).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from harness.lab.model import Lab

FIRST_HOST = 6  # the default lab's server network uses .2-.5 and .10; docker's bridge takes the last address


def free_server_address(lab: Lab) -> ipaddress.IPv4Address:
    """The first address of the server network (from ``.6``) that no service of the lab holds."""
    s = lab.services
    taken = {s.kea.address, s.backend.address, s.tftp.address, s.files.address, s.relay.address,
             lab.networks.server.docker_gateway}
    net = lab.networks.server.subnet
    for host in range(FIRST_HOST, net.num_addresses - 1):
        address = net.network_address + host
        if address not in taken:
            return address
    raise ValueError(f"no free address for a Kea standby in {net}")


def with_kea_ha(lab: Lab, *, name: str | None = None, **ha: Any) -> Lab:
    """``lab`` with a Kea HA pair: ``ha`` are ``services.kea.ha`` fields (default: a free standby address and
    Kea's own timing); ``name`` renames the lab (its docker labels say which lab a run is)."""
    data = lab.model_dump(mode="json")
    kea = data["services"]["kea"]
    kea["ha"] = {"standby": str(free_server_address(lab)), **(kea.get("ha") or {}), **ha}
    if name is not None:
        data["lab"]["name"] = name
    return Lab.model_validate({**data, "source": f"{lab.source} (with a Kea HA pair)"})
