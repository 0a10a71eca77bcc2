"""Whether an agent call comes from the board its install token was minted for (issue 13).

A token is bound to where its board is: the switch port's subnet (the request must come from it) and the MAC and
serial the agent reads from the board itself and sends with every call (``?serial=..&mac=..``). A MAC or serial
the machine does not know yet is recorded on first contact (a machine defined without a serial installs: its
token is bound to the port and the MAC, and the serial the board reports first is kept); after that it must
match. Pure: the service looks the machine up and records what this module says.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """Who makes an agent call: the request's source address and the identity the agent reports."""

    address: str | None
    serial: str | None  # normalised (identity.norm_serial)
    mac: str | None  # normalised (identity.norm_mac)


@dataclass(frozen=True)
class Bound:
    """The machine's side: what the token is bound to."""

    name: str
    subnet: str | None
    mac: str | None
    serial: str | None
    guid_serial: str | None  # option-97 serial bytes, either byte order


def problems(bound: Bound, caller: Caller) -> list[str]:
    """Every reason the call is not the machine's own board's (empty: it is)."""
    out: list[str] = []
    if bound.subnet is None:
        out.append(f"the switch port of {bound.name} has no subnet: define it (the machine's 'subnet', or the "
                   "port's subnet in the lab import) before it can install")
    elif not _inside(caller.address, bound.subnet):
        out.append(f"the request comes from {caller.address or 'an unknown address'}, outside the subnet "
                   f"{bound.subnet} of {bound.name}'s switch port")
    if caller.mac is None:
        out.append("the agent sent no MAC")
    elif bound.mac is not None and caller.mac != bound.mac:
        out.append(f"the agent reports MAC {caller.mac}, but {bound.name}'s MAC is {bound.mac}")
    if caller.serial is None:
        out.append("the agent sent no serial")
    elif bound.serial is not None and caller.serial != bound.serial:
        out.append(f"the agent reports serial {caller.serial}, but {bound.name}'s serial is {bound.serial}")
    elif bound.serial is None and bound.guid_serial is not None \
            and caller.serial not in (bound.guid_serial, bytes.fromhex(bound.guid_serial)[::-1].hex()):
        out.append(f"the agent reports serial {caller.serial}, but option 97 of {bound.name} said "
                   f"{bound.guid_serial}")
    return out


def _inside(address: str | None, subnet: str) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    except ValueError:
        return False
