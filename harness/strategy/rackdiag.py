"""Rack failures classified like sim ones: a failed boot stage on a rack, looked at again with what the lab can
see, so that a broken lab quarantines the board instead of failing the product, with the evidence attached.

``diagnoser(target, kea_log)`` → ``diagnose(failure) -> failure`` for ``BootStrategy(diagnose=...)`` (the
fixtures build it for every strategy on a ``kind: rack`` lab). It recognises:

- **no console output** after power-on (not one byte): the serial line or ``BOOT_UART``, not the product;
- **an SNMP agent (PoE switch) that does not answer**: a ``PowerError`` already; gets the switch, port and OID;
- **a board that never asks DHCP**: its bootloader never tried the network (``BOOT_ORDER``) or Kea never
  heard of its MAC; says which EEPROM setting to change (``harness.strategy.eeprom``);
- **a port that relays without option 82**: Kea's hook logged ``REMOTE_OPTIONS_BAD_OPTION82`` for the board's
  MAC or its port's giaddr, so the board got the failure policy (boot local) — the switch port's fault.

Each returned failure carries ``evidence`` (console tail, Kea's lines about the board, the power target).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.console.parser import parse_bytes
from harness.drivers.base import HarnessFailure, InfraFailure, PowerError
from harness.session import Target
from harness.strategy import eeprom

TAIL = 3000
BAD_OPTION82 = "REMOTE_OPTIONS_BAD_OPTION82"


def _power_target(target: Target) -> str:
    p = target.board.power
    if p.driver == "snmp":
        return (f"SNMP v2c {p.host}:{p.snmp_port} community {p.community!r} pethPsePortAdminEnable.{p.group}."
                f"{p.port_index}")
    return f"{p.driver}: on={p.on!r} off={p.off!r} state={p.state!r}"


def diagnoser(target: Target, kea_log: Callable[[], str]) -> Callable[[HarnessFailure], HarnessFailure]:
    """A diagnosis for ``target``'s strategy; Kea's log and the console are read from this moment on."""
    try:
        kea_start = len(kea_log())
    except Exception:  # a Kea without a readable log: diagnose without it
        kea_start = 0
    console_start = target.console.mark()

    def diagnose(exc: HarnessFailure) -> HarnessFailure:
        console = target.console.slice(console_start)
        try:
            kea = kea_log()[kea_start:]
        except Exception as err:
            kea = f"(Kea's log unreadable: {err})"
        found = classify(exc, target, console, kea)
        found.evidence.setdefault("console (tail)", console[-TAIL:].decode("utf-8", "replace") or "(no output)")
        gw = str(target.lab.port_of(target.board).gateway)
        about = [ln for ln in kea.splitlines() if target.board.mac in ln.lower() or f" {gw} " in f" {ln} "]
        found.evidence.setdefault("Kea log about the board", "\n".join(about[-50:]) or "(nothing)")
        found.evidence.setdefault("power", _power_target(target))
        return found

    return diagnose


def classify(exc: HarnessFailure, target: Target, console: bytes, kea: str) -> HarnessFailure:
    """The failure as the lab's evidence shows it (``exc`` itself when nothing changes the verdict)."""
    board = target.board
    if isinstance(exc, PowerError):
        return exc
    if exc.stage == "power-on" and not console:
        return InfraFailure(f"no console output at all after power-on on {board.console.url}: "
                            + "; ".join(eeprom.findings([], board.eeprom, console_bytes=0)))
    if exc.stage not in ("dhcp", "tftp"):
        return exc
    gw = str(target.lab.port_of(board).gateway)
    bad82 = [ln for ln in kea.splitlines() if BAD_OPTION82 in ln and (board.mac in ln.lower() or gw in ln)]
    if bad82:
        return InfraFailure(f"switch port {target.port} relays {board.name}'s DHCP without a usable option 82, "
                            f"so Kea gave it the failure policy: turn on option 82 insertion (DHCP relay "
                            f"information / snooping) on that port. Kea: {bad82[-1].strip()[:300]}")
    events = parse_bytes(console)
    advice = eeprom.findings(events, board.eeprom)
    tried = any(e.get("event") == "boot_mode" and e.get("mode") == "NETWORK" for e in events)
    if not tried:
        why = "; ".join(advice) or "its bootloader printed no 'Boot mode: NETWORK'"
        return InfraFailure(f"{board.name} never asked DHCP: {why}")
    if isinstance(exc, InfraFailure) and board.mac not in kea.lower():
        return InfraFailure(f"{exc.message}\nKea logged nothing about {board.mac}: its DHCP never reached Kea "
                            f"(switch port {target.port}, its relay, the cabling)"
                            + (f"; {'; '.join(advice)}" if advice else ""))
    return exc
