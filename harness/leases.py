"""Board leases shared by every pytest worker (and every harness process) of one machine.

A lease file per lab (``<dir>/<lab name>.json``, guarded by ``fcntl.flock``) maps a board to its holder
``{"owner", "pid", "host", "expires", "quarantined"}``. A worker leases a free board for ``ttl`` seconds and
renews it while it holds it (``Lease.renew``, called by the fixture's heartbeat thread); a lease whose holder
process is gone, or whose TTL ran out, is free again, so a crashed ``pytest -n N`` worker never strands a board.

Quarantine: an infrastructure failure on a board keeps it out of every later lease of the same run
(``run_id``), in every worker; a new run starts with all boards healthy.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.wait import wait_until


class NoBoardFree(RuntimeError):
    """No board of the lab satisfies the request right now (``permanent``: not in this run, since too many of
    the candidates are quarantined or there are too few)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _alive(pid: int, host: str) -> bool:
    if host != socket.gethostname():
        return True  # cannot tell: trust the TTL
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Lease:
    registry: LeaseRegistry
    board: str
    owner: str

    def renew(self) -> None:
        self.registry.renew(self)

    def release(self) -> None:
        self.registry.release(self)


class LeaseRegistry:
    def __init__(self, directory: Path, lab_name: str, *, run_id: str, ttl: float = 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{lab_name}.json"
        self.lock_path = directory / f"{lab_name}.lock"
        self.run_id = run_id
        self.ttl = ttl
        self.clock = clock

    @contextmanager
    def _table(self) -> Iterator[dict[str, dict[str, Any]]]:
        with self.lock_path.open("a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    table: dict[str, dict[str, Any]] = json.loads(self.path.read_text() or "{}")
                    if not isinstance(table, dict):
                        table = {}
                except (OSError, ValueError):
                    table = {}
                yield table
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(table, indent=1, sort_keys=True))
                os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _free(self, entry: dict[str, Any] | None) -> bool:
        if not entry or not entry.get("owner"):
            return True
        if float(entry.get("expires", 0)) < self.clock():
            return True
        return not _alive(int(entry.get("pid", 0)), str(entry.get("host", "")))

    def quarantined(self) -> dict[str, str]:
        with self._table() as table:
            return {b: str(e["quarantined"]) for b, e in table.items()
                    if e.get("quarantined") and e.get("quarantine_run") == self.run_id}

    def acquire(self, candidates: Sequence[str], owner: str, *, count: int = 1) -> list[Lease]:
        """Lease ``count`` boards among ``candidates`` (in order), all or none."""
        with self._table() as table:
            free = []
            for name in candidates:
                entry = table.get(name, {})
                if entry.get("quarantined") and entry.get("quarantine_run") == self.run_id:
                    continue
                if self._free(entry):
                    free.append(name)
            if len(free) < count:
                quarantined = {n: table[n]["quarantined"] for n in candidates
                               if table.get(n, {}).get("quarantined") and table[n].get("quarantine_run") == self.run_id}
                busy = {n: table.get(n, {}).get("owner") for n in candidates if n not in free and n not in quarantined}
                raise NoBoardFree(f"{count} board(s) wanted among {list(candidates)}, free: {free}, busy: {busy}, "
                                  f"quarantined this run: {quarantined}",
                                  permanent=len(candidates) - len(quarantined) < count)
            chosen = free[:count]
            for name in chosen:
                keep = {k: v for k, v in table.get(name, {}).items() if k.startswith("quarantine")}
                table[name] = {**keep, "owner": owner, "pid": os.getpid(), "host": socket.gethostname(),
                               "expires": self.clock() + self.ttl}
        return [Lease(self, name, owner) for name in chosen]

    def wait_acquire(self, candidates: Sequence[str], owner: str, *, count: int = 1,
                     timeout: float = 600.0) -> list[Lease]:
        why: list[str] = []

        def free() -> list[Lease] | None:
            try:
                return self.acquire(candidates, owner, count=count)
            except NoBoardFree as exc:
                if exc.permanent:  # never in this run: no use waiting
                    raise
                why[:] = [str(exc)]
                return None

        return wait_until(f"{count} free board(s) among {list(candidates)}", free, timeout=timeout, interval=1.0,
                          describe=lambda: why[-1] if why else None, error=NoBoardFree)

    def renew(self, lease: Lease) -> None:
        with self._table() as table:
            entry = table.get(lease.board)
            if entry and entry.get("owner") == lease.owner:
                entry["expires"] = self.clock() + self.ttl

    def release(self, lease: Lease) -> None:
        with self._table() as table:
            entry = table.get(lease.board)
            if entry and entry.get("owner") == lease.owner:
                for key in ("owner", "pid", "host", "expires"):
                    entry.pop(key, None)

    def quarantine(self, board: str, reason: str) -> None:
        with self._table() as table:
            entry = table.setdefault(board, {})
            entry["quarantined"] = reason
            entry["quarantine_run"] = self.run_id


class Heartbeat:
    """Renews leases every ``ttl / 3`` seconds from a daemon thread until stopped."""

    def __init__(self, leases: Sequence[Lease], interval: float) -> None:
        self.leases = list(leases)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="malina-lease-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for lease in self.leases:
                try:
                    lease.renew()
                except OSError:
                    pass

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
