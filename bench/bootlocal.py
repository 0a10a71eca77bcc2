"""Benchmark cases of issue 19: time from power-on to the SD boot mode for a board that must boot local, per
boot-local method, at real-hardware timing (time factor 1).

One docker lab (the default lab.yaml, one board, time factor 1). For each method the board's machine is set to
local with that method as its own (``PUT /v1/admin/machines/<name>/boot-local-method``), the board gets a fresh
container with an installed card, and the time runs from the power-on call to ``Boot mode: SD`` on its console
(the bootloader's own line: the mode after the network attempts failed). Each method is measured ``rounds``
times, in turn (so that a slow moment of the machine does not fall on one method), and the median is reported.
A board that loads start4.elf over the network instead is a failure of the case.

Cases: ``boot-local opt66-zero``, ``boot-local tftp-deny``, ``boot-local opt66-zero+tftp-deny`` (unit ``s``,
target ``<= 30``: with ``NET_BOOT_MAX_RETRIES=1`` two network tries, no method may leave a board waiting on
timeouts for minutes) and ``boot-local default / fastest single`` (ratio, target ``<= 1.1``: closing both gates
costs nothing). Run alone: ``python -m bench.sim --only boot-local``.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bootlocal import observe
from harness.drivers.base import HarnessFailure
from harness.lab.model import Lab
from harness.session import SimSession

METHODS = ("opt66-zero", "tftp-deny", "opt66-zero+tftp-deny")
DEFAULT = "opt66-zero+tftp-deny"
TIMEOUT_S = 180.0


@dataclass
class BootLocalTiming:
    rounds: int
    times: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METHODS})
    failures: list[str] = field(default_factory=list)

    def median(self, method: str) -> float | None:
        values = self.times[method]
        return statistics.median(values) if values else None


def time_to_sd(session: SimSession, name: str, method: str) -> float:
    """Seconds from power-on to ``Boot mode: SD`` for ``name`` in local by ``method`` (``harness.bootlocal``, as
    the qualification suite watches a board)."""
    session.define(name, mode="local")
    session.backend.set_boot_local_method(name, method)
    target = session.target(name, card=session.installed_card(name))
    try:
        seen = observe(target, method, timeout=TIMEOUT_S, time_factor=1.0,
                       retries=int(target.board.eeprom.get("NET_BOOT_MAX_RETRIES", 1)))
    finally:
        target.power.off()
        session.release(target)
    if seen.seconds is None:
        raise HarnessFailure(f"{name} ({method}): {seen.outcome} after {seen.network_tries} network tries")
    return seen.seconds


def measure(lab: Lab, name: str, rounds: int) -> BootLocalTiming:
    timing = BootLocalTiming(rounds)
    with SimSession(lab) as session:
        try:
            for r in range(rounds):
                for method in METHODS:
                    try:
                        seconds = time_to_sd(session, name, method)
                    except HarnessFailure as exc:
                        timing.failures.append(f"{method} round {r + 1}: {exc}")
                        continue
                    timing.times[method].append(seconds)
                    print(f"bench-sim: boot-local {method}: {seconds:.1f} s to the SD boot mode (round {r + 1})",
                          file=sys.stderr, flush=True)
        finally:
            session.backend.set_boot_local_method(name, None)
    return timing


def cases(timing: BootLocalTiming) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for method in METHODS:
        median = timing.median(method)
        if median is None:
            continue
        out.append({"name": f"boot-local {method}", "value": round(median, 2), "unit": "s", "target": "<= 30",
                    "rounds": [round(v, 2) for v in timing.times[method]],
                    "time_factor": 1.0})
    singles = [m for m in (timing.median("opt66-zero"), timing.median("tftp-deny")) if m is not None]
    default = timing.median(DEFAULT)
    if singles and default is not None:
        out.append({"name": "boot-local default / fastest single", "value": round(default / min(singles), 3),
                    "unit": "ratio", "target": "<= 1.1"})
    return out


def summary(timing: BootLocalTiming) -> str:
    parts = [f"{m} {timing.median(m):.1f} s" for m in METHODS if timing.median(m) is not None]
    ratio = next((c["value"] for c in cases(timing) if c["unit"] == "ratio"), None)
    text = "boot-local to SD (time factor 1, target <= 30 s): " + ", ".join(parts)
    if ratio is not None:
        text += f"; default / fastest single = {ratio:.3f} (target <= 1.1)"
    return text


def merge(results: Path, new: list[dict[str, Any]], failures: dict[str, list[str]]) -> dict[str, Any]:
    """``results`` (bench/results/sim.json) with ``new`` cases replacing those of the same name (a run of only
    these cases keeps the other cases of an earlier full run)."""
    import json

    doc: dict[str, Any] = {"benchmark": "sim", "cases": [], "failures": {}}
    if results.exists():
        try:
            doc = json.loads(results.read_text())
        except ValueError:
            pass
    names = {c["name"] for c in new}
    doc["cases"] = [c for c in doc.get("cases", []) if c.get("name") not in names] + new
    doc["failures"] = {k: v for k, v in doc.get("failures", {}).items() if not k.startswith("boot-local")}
    doc["failures"].update(failures)
    return doc
