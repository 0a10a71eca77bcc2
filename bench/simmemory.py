"""What bench-sim measures besides wall time: the simulated boards' memory, and how long its stages may take.

``MemorySampler`` reads each board container's cgroup once a second while a round runs (cgroup v1 under
``/sys/fs/cgroup/memory/docker/<id>``, or v2 under ``system.slice/docker-<id>.scope``): the resident memory of
the board's processes (anonymous + file-mapped pages: what its controller, firmware, installer and installed OS
hold) and the cgroup's own peak, which also counts the page cache of the card the installer writes (reclaimable;
reported beside, not as the case's value).

``stage_scale`` stretches the boot strategy's stage timeouts by the delays the simulated board models at the
lab's time factor, read from the sim's one table of delays (``harness.sim.bootloader.timing``) rather than
copied here: the table changes as the sim is calibrated.
"""

from __future__ import annotations

import importlib
import statistics
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

MiB = 1 << 20


def _v1(cid: str) -> Path:
    return Path(f"/sys/fs/cgroup/memory/docker/{cid}")


def _v2(cid: str) -> Path:
    return Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope")


def _stat(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.isdigit():
            out[key] = int(value)
    return out


def resident_bytes(cid: str) -> int | None:
    """Anonymous + file-mapped memory of the container's processes now (None: no cgroup found)."""
    try:
        if _v1(cid).is_dir():
            stat = _stat(_v1(cid) / "memory.stat")
            return stat.get("total_rss", stat.get("rss", 0)) + stat.get("total_mapped_file", stat.get("mapped_file", 0))
        stat = _stat(_v2(cid) / "memory.stat")
        return stat.get("anon", 0) + stat.get("file_mapped", 0)
    except OSError:
        return None


def cgroup_peak_bytes(cid: str) -> int | None:
    """The cgroup's peak usage since the container started (page cache included)."""
    for path in (_v1(cid) / "memory.max_usage_in_bytes", _v2(cid) / "memory.peak"):
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            continue
    return None


@dataclass
class Memory:
    """Per board: the highest resident memory sampled and the cgroup peak, in bytes."""

    resident: dict[str, int] = field(default_factory=dict)
    cgroup_peak: dict[str, int] = field(default_factory=dict)

    @property
    def mean_mib(self) -> float:
        return statistics.mean(self.resident.values()) / MiB if self.resident else float("nan")

    def case(self, name: str) -> dict[str, Any]:
        peaks = list(self.cgroup_peak.values())
        return {"name": name, "value": round(self.mean_mib, 1), "unit": "MiB",
                "what": "mean over the boards of each board container's highest resident memory (anonymous + "
                        "file-mapped pages of all its processes, sampled every second)",
                "max_mib": round(max(self.resident.values(), default=0) / MiB, 1),
                "boards_sampled": len(self.resident),
                "cgroup_peak_incl_page_cache_mib": round(statistics.mean(peaks) / MiB, 1) if peaks else None}


class MemorySampler:
    """Samples the board containers ``ids`` (board name → container id) once a second until closed."""

    def __init__(self, ids: dict[str, str], interval: float = 1.0) -> None:
        self.ids = ids
        self.interval = interval
        self.memory = Memory()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sim memory", daemon=True)

    def _sample(self) -> None:
        for name, cid in self.ids.items():
            now = resident_bytes(cid)
            if now is not None:
                self.memory.resident[name] = max(now, self.memory.resident.get(name, 0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> MemorySampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        for name, cid in self.ids.items():
            peak = cgroup_peak_bytes(cid)
            if peak is not None:
                self.memory.cgroup_peak[name] = peak

    def result(self) -> Memory:
        return self.memory


def modelled_delays_s() -> float:
    """The sum of the fixed delays in the sim's table at time factor 1 (0 when this tree has no table yet)."""
    try:
        timing = importlib.import_module("harness.sim.bootloader.timing")
    except ImportError:
        return 0.0
    return float(sum(d.seconds for d in timing.TABLE if d.name.endswith("_S") and "_PER_" not in d.name))


def stage_scale(time_factor: float) -> float:
    """How much longer than the strategy's sim timeouts a stage may take at ``time_factor``: one more share
    of the timeouts per minute of modelled delay."""
    return 1.0 + modelled_delays_s() * time_factor / 60.0
