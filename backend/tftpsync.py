"""The TFTP gate for a TFTP server that cannot ask the backend itself (a rack's tftpd-hpa, dnsmasq): per-board
directories moved aside while the gate is closed (issue 19; ``malina backend tftp-gate-sync``).

A board's tree is ``<root>/<serial>`` (a directory or, as the harness stages it, a symlink). While the backend
says the board's gate is closed (``GET /v1/tftp/gate?serial=…``, or ``Service.tftp_gate`` on the database), the
entry is renamed to ``<root>/.gated/<serial>``: tftpd-hpa then answers "File not found" for everything under the
serial, and the bootloader, after clearing the prefix, finds nothing at the root either (nothing of malina's
lives there). When the gate opens the entry is renamed back. A rename is atomic, so a board reading at that
moment sees the whole tree or none. When the backend cannot be asked, every entry is moved aside: when in doubt a
board boots local. The delay is the polling interval (default 1 s) — the same order as the malina TFTP server's
cache of the gate.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GATED = ".gated"
SERIAL = re.compile(r"^[0-9a-f]{8}$")
Ask = Callable[[str], bool]  # serial -> whether the gate is open (raises OSError when the backend is not there)


@dataclass(frozen=True)
class Change:
    serial: str
    action: str  # "closed" (moved aside) or "opened" (moved back)


def serials(root: Path) -> list[str]:
    """The board entries under ``root`` and under ``root/.gated``."""
    found: set[str] = set()
    for folder in (root, root / GATED):
        if folder.is_dir():
            found.update(entry.name for entry in folder.iterdir() if SERIAL.match(entry.name))
    return sorted(found)


def sync_once(root: Path, ask: Ask) -> list[Change]:
    """Move each board's entry to where its gate says; what moved."""
    gated = root / GATED
    gated.mkdir(exist_ok=True)
    changes: list[Change] = []
    for serial in serials(root):
        try:
            is_open = ask(serial)
        except OSError:
            is_open = False  # the backend is not there: closed
        live, aside = root / serial, gated / serial
        if is_open and os.path.lexists(aside) and not os.path.lexists(live):
            os.rename(aside, live)
            changes.append(Change(serial, "opened"))
        elif not is_open and os.path.lexists(live):
            if os.path.lexists(aside):  # a tree was staged while the gate was closed: it supersedes the old one
                if aside.is_symlink():
                    aside.unlink()
                else:
                    os.rename(aside, gated / f"{serial}.superseded-{time.time_ns()}")
            os.rename(live, aside)
            changes.append(Change(serial, "closed"))
    return changes
