"""CPU placement and CPU accounting for ``bench.hook`` (issue 14.3).

Kea and the backend stand-ins (stub, nginx, the 100 ms stand-in, the malina backend) share core 0; the load
generators (perfdhcp, dhcpload) and the test client get core 1 (``docker update --cpuset-cpus``: the containers
exist already, so the lab code stays as it is). Without this the kernel spreads Kea's threads and the generators
over both cores and the ceiling the bench measures is partly the bench's own.

``cpu_seconds`` reads a container's cumulative CPU time (docker's stats, one shot), so a case can report how
much of its core each side used. A container's cgroup does not carry the kernel's packet processing (softirq, the
veth and bridge path), so ``CoreBusy`` also reads each core's busy share from ``/proc/stat``: the server core
near 1.0 and the load generator's core below it means the baseline is Kea's limit, not the bench's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SERVER_CORE = "0"
LOADGEN_CORE = "1"
SERVER_ROLES = ("kea", "backend", "nginx", "slow-backend", "malina-backend")
LOADGEN_ROLES = ("perf-0", "perf-1", "client")


def can_pin() -> bool:
    """Two cores at least (the machine the bench is meant for has exactly two)."""
    return (os.cpu_count() or 1) >= 2


def pin(containers: dict[str, Any]) -> dict[str, str]:
    """Pin the lab's containers by role; returns role -> cpuset for the record (empty when not pinned)."""
    if not can_pin():
        return {}
    placed: dict[str, str] = {}
    for role, container in containers.items():
        core = SERVER_CORE if role in SERVER_ROLES else LOADGEN_CORE if role in LOADGEN_ROLES else None
        if core is not None:
            container.update(cpuset_cpus=core)
            placed[role] = core
    return placed


def cpu_seconds(container: Any) -> float:
    """Cumulative CPU time of all the container's processes, in seconds."""
    stats = container.stats(stream=False, one_shot=True)
    return float(stats["cpu_stats"]["cpu_usage"]["total_usage"]) / 1e9


def _core_ticks(stat: Path) -> dict[str, tuple[int, int]]:
    """core name -> (busy ticks, all ticks) from /proc/stat (idle and iowait are not busy)."""
    out: dict[str, tuple[int, int]] = {}
    for line in stat.read_text().splitlines():
        fields = line.split()
        if not fields or not fields[0].startswith("cpu") or fields[0] == "cpu":
            continue
        ticks = [int(x) for x in fields[1:9]]
        idle = ticks[3] + ticks[4]
        out[fields[0][3:]] = (sum(ticks) - idle, sum(ticks))
    return out


class CoreBusy:
    """Each core's busy share between ``start()`` and ``stop()`` (user, system, irq and softirq time)."""

    def __init__(self, stat: Path = Path("/proc/stat")) -> None:
        self.stat = stat
        self._start: dict[str, tuple[int, int]] = {}

    def start(self) -> None:
        self._start = _core_ticks(self.stat)

    def stop(self) -> dict[str, float]:
        end = _core_ticks(self.stat)
        shares: dict[str, float] = {}
        for core, (busy, total) in end.items():
            busy0, total0 = self._start.get(core, (0, 0))
            shares[core] = (busy - busy0) / (total - total0) if total > total0 else 0.0
        return shares
