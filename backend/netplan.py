"""The netplan file an installed machine gets (``/etc/netplan/90-malina.yaml``)."""

from __future__ import annotations

from typing import Any

import yaml


def render(network: dict[str, Any]) -> str:
    """``network`` as stored: ``{"interface", "address" (10.90.1.50/24), "gateway" | None, "dns": [...]}``."""
    eth: dict[str, Any] = {"dhcp4": False, "dhcp6": False, "addresses": [network["address"]]}
    if network.get("gateway"):
        eth["routes"] = [{"to": "default", "via": network["gateway"]}]
    if network.get("dns"):
        eth["nameservers"] = {"addresses": list(network["dns"])}
    doc = {"network": {"version": 2, "renderer": "networkd", "ethernets": {network["interface"]: eth}}}
    head = "# Written by the malina installer from the provisioning backend. Changes are kept.\n"
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
