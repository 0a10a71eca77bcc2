"""Faults of a rack's infrastructure, provoked on the emulated rack (tests of the failure classes,
``harness.strategy.rackdiag``): each ``set_*`` call breaks one thing and the same call with the default
argument mends it.

- ``console_silent``: the board's serial line carries nothing (the pty still opens);
- ``snmp_silent``: the PoE switch's SNMP agent stops answering;
- ``eeprom``: the board's EEPROM settings (e.g. ``BOOT_ORDER=0xf1``: it never asks DHCP), read at power-on;
- ``port_without_option82``: the switch port relays without option 82 (the relay restarts with it).
"""

from __future__ import annotations

import json

from harness.emurack.rack import EmulatedRack
from harness.lab import boardspec
from harness.lab.docker_lab import put_files
from harness.lab.services import relay_config
from harness.sim.bootloader.config import render_eeprom

RELAY_JSON = "/etc/malina/relay.json"


def console_silent(rack: EmulatedRack, board: str, silent: bool = True) -> None:
    rack.ptys[board].set_silent(silent)


def snmp_silent(rack: EmulatedRack, silent: bool = True) -> None:
    for agent in rack.agents.values():
        agent.mute = silent


def eeprom(rack: EmulatedRack, board: str, settings: dict[str, int | str] | None = None) -> None:
    """The board's EEPROM config (None: the lab file's own)."""
    conf = settings if settings is not None else dict(rack.lab.board(board).eeprom)
    put_files(rack.hardware.container(f"board-{board}"), {boardspec.EEPROM_CONF: render_eeprom(conf).encode()})


def port_without_option82(rack: EmulatedRack, port: str | None = None) -> None:
    """Make switch port ``port`` relay without option 82 (None: every port inserts it again)."""
    config = relay_config(rack.hardware.lab)
    for p in config["ports"]:
        p["insert_option82"] = p["name"] != port
    relay = rack.hardware.container("relay")
    put_files(relay, {RELAY_JSON: (json.dumps(config, indent=2) + "\n").encode()})
    relay.restart(timeout=2)
