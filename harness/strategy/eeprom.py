"""The EEPROM settings a netbooting Pi 4 needs, checked from what its bootloader prints on the console, and what
to change when they differ.

A board needs ``BOOT_ORDER=0xf12`` (network, then SD, then loop), ``NET_BOOT_MAX_RETRIES=1`` and ``BOOT_UART=1``
(tests/data/pi4/SPEC.md). The bootloader does not print its config as such, but it prints enough
(tests/data/pi4/logs): ``Boot mode: NETWORK (02) order f1`` gives the BOOT_ORDER nibbles still to try after the
current one (0xf12 = mode 2 first, then ``f1``), the run of ``NETWORK`` modes before ``SD`` in one boot is
1 + NET_BOOT_MAX_RETRIES, and a console that stays silent after a power-on is a board without ``BOOT_UART=1``
(or a broken serial line). ``findings(events, expected)`` lists each difference with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

REQUIRED: dict[str, int | str] = {"BOOT_ORDER": "0xf12", "NET_BOOT_MAX_RETRIES": 1, "BOOT_UART": 1}
HOW = "sudo rpi-eeprom-config --edit on the board (or an EEPROM update card), then power-cycle it"


def expected(eeprom: Mapping[str, int | str]) -> dict[str, int | str]:
    """The settings the lab file declares for the board, over the required ones."""
    return {**REQUIRED, **{k: v for k, v in eeprom.items() if k in REQUIRED}}


def _order(value: int | str) -> int:
    return int(str(value), 16) if isinstance(value, str) else int(value)


def printed_boot_order(events: Sequence[Mapping[str, Any]]) -> int | None:
    """BOOT_ORDER as the first ``Boot mode`` line of the log shows it (its nibble, then the order still to try)."""
    for e in events:
        if e.get("event") == "boot_mode":
            return (int(str(e["order"]), 16) << 4) | int(e["nibble"]) if e["order"] else int(e["nibble"])
    return None


def network_tries(events: Sequence[Mapping[str, Any]]) -> int | None:
    """How many NETWORK modes one boot ran before its first SD mode (None: no boot fell back to SD in this log);
    a banner starts a new boot (an install reboots into the card)."""
    tries = 0
    for e in events:
        if e.get("event") == "banner":
            tries = 0
        elif e.get("event") == "boot_mode":
            if e["mode"] == "SD":
                return tries
            tries = tries + 1 if e["mode"] == "NETWORK" else tries
    return None


def findings(events: Sequence[Mapping[str, Any]], eeprom: Mapping[str, int | str], *,
             console_bytes: int | None = None) -> list[str]:
    """What the console shows to differ from the board's required EEPROM settings, each with the fix."""
    want = expected(eeprom)
    out: list[str] = []
    if console_bytes == 0:
        out.append(f"the console stayed silent: set BOOT_UART=1 ({HOW}) and check the serial line "
                   "(GPIO14/15, 115200 8N1)")
        return out
    order = printed_boot_order(events)
    if order is not None and order != _order(want["BOOT_ORDER"]):
        out.append(f"BOOT_ORDER is 0x{order:x} per the console ('Boot mode' lines), not {want['BOOT_ORDER']}: "
                   f"set BOOT_ORDER={want['BOOT_ORDER']} ({HOW})")
    tries = network_tries(events)
    retries = int(want["NET_BOOT_MAX_RETRIES"])
    if tries is not None and tries > 1 + retries:
        out.append(f"the network was tried {tries} times before SD: set NET_BOOT_MAX_RETRIES={retries} ({HOW})")
    return out
