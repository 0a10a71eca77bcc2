"""What a board does when it must boot local (issue 19): power it on and watch its console until it reaches the
SD boot mode, loads firmware over the network, or the time is up — with the bootloader's version from its
banner. The qualification suite (``scenarios/test_qualify_boot_local.py``, ``-m qualify``) and ``make bench-sim``
(``bench/bootlocal.py``) both use it; the table it renders is the qualification report.

Outcomes: ``falls back`` (``Boot mode: SD`` after the network tries), ``netboots`` (``Starting start4.elf``
while still in the network mode: the method did not keep the board off the network), ``loops`` (no SD within
the time, and more network tries than ``1 + NET_BOOT_MAX_RETRIES``: the bootloader keeps retrying the network),
``no fallback`` (no SD within the time otherwise: it waits or hangs).
"""

from __future__ import annotations

import csv
import html
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from harness.console.parser import parse_bytes
from harness.drivers.base import ConsoleTimeout
from harness.session import Target

BANNER = r"RPi: (?:BOOTSYS|BOOTLOADER) release"
SD_MODE = r"Boot mode: SD"
START_FROM_NET = r"Starting start4\.elf @ 0x[0-9a-f]+ partition 0"
Outcome = Literal["falls back", "netboots", "loops", "no fallback"]
COLUMNS = ("board", "bootloader", "method", "outcome", "seconds to SD", "real-hardware s", "network tries")


@dataclass(frozen=True)
class Observation:
    board: str
    method: str
    bootloader: str  # "<version> <date>" from the BOOTLOADER banner, "?" when none was printed
    outcome: Outcome
    seconds: float | None  # power-on → "Boot mode: SD" (host clock), None without a fallback
    time_factor: float  # of the lab: the real-hardware time is seconds / time_factor
    network_tries: int

    @property
    def real_seconds(self) -> float | None:
        return None if self.seconds is None else self.seconds / self.time_factor

    def cells(self) -> tuple[str, ...]:
        def num(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        return (self.board, self.bootloader, self.method, self.outcome, num(self.seconds), num(self.real_seconds),
                str(self.network_tries))


def observe(target: Target, method: str, *, timeout: float, time_factor: float, retries: int = 1) -> Observation:
    """Power ``target`` off and on and watch it (the backend must already say boot-local by ``method``)."""
    target.power.off()
    mark = _quiet(target)
    start = time.monotonic()
    target.power.on()
    outcome: Outcome
    seconds: float | None = None
    end: int | None = None  # what the board printed up to the verdict (it goes on booting after it)
    try:
        # from this power-on's banner: nothing printed before it (a late tail of the last run) can count
        banner = target.console.expect(BANNER, timeout, since=mark, deaths=[])
        seen = target.console.expect([SD_MODE, START_FROM_NET], timeout - (time.monotonic() - start),
                                     since=banner.offset, deaths=[])
        end = seen.offset
        if seen.pattern == START_FROM_NET:
            outcome = "netboots"
        else:
            outcome, seconds = "falls back", time.monotonic() - start
    except ConsoleTimeout:
        outcome = "no fallback"
    events = parse_bytes(target.console.slice(mark, end))
    first = next((i for i, e in enumerate(events) if e["event"] == "banner"), 0)
    tries = sum(1 for e in events[first:] if e["event"] == "boot_mode" and e["mode"] == "NETWORK")
    if outcome == "no fallback" and tries > 1 + retries:
        outcome = "loops"
    banners = [e for e in events if e["event"] == "banner" and e["stage"] == "BOOTLOADER"]
    version = f"{banners[-1]['version']} ({banners[-1]['date']})" if banners else "?"
    return Observation(target.name, method, version, outcome, seconds, time_factor, tries)


def _quiet(target: Target, still_s: float = 0.3, limit_s: float = 5.0) -> int:
    """The console's end once nothing more arrived for ``still_s`` (what was in flight when the power went off)."""
    deadline = time.monotonic() + limit_s
    mark = target.console.mark()
    while time.monotonic() < deadline:
        time.sleep(still_s)
        now = target.console.mark()
        if now == mark:
            break
        mark = now
    return mark


def table_text(rows: Sequence[Observation]) -> str:
    cells = [COLUMNS, *(r.cells() for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def table_csv(rows: Sequence[Observation]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(r.cells() for r in rows)
    return out.getvalue()


def table_html(rows: Sequence[Observation], title: str) -> str:
    """Bootloader version x method → outcome and time, one row per board and method."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for r in rows:
        colour = "#d4edda" if r.outcome == "falls back" else "#f8d7da"
        body.append(f'<tr style="background:{colour}">' + "".join(f"<td>{html.escape(c)}</td>" for c in r.cells())
                    + "</tr>")
    return (f"<html><body><h3>{html.escape(title)}</h3><table border=\"1\" cellpadding=\"4\" "
            f"style=\"border-collapse:collapse\"><tr>{head}</tr>{''.join(body)}</table></body></html>")
