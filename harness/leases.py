"""Board leases: who may use which board now, behind one interface (``LeaseStore``) with two stores.

- ``FileLeaseStore``: a lease file per lab (``<dir>/<lab name>.json``, guarded by ``fcntl.flock``): the workers
  and processes of ONE host (``pytest -n N``).
- ``harness.backendleases.BackendLeaseStore``: the backend's database through its ``/v1/leases`` routes: every
  CI host that drives the same rack sees the same leases (lab.yaml ``leases: {store: backend}``).

Both keep the same semantics. A worker leases ``count`` free boards among candidates (all or none) for ``ttl``
seconds and renews them while it holds them (``Heartbeat``); a lease whose TTL ran out is free again, and so is
one whose holder process is gone when the holder ran on this host (``host_id()``: ``MALINA_HOST_ID`` or the
host name), so a crashed worker never strands a board: at once on its own host, after the TTL elsewhere.

Two ways a board is kept out of leases:

- *quarantine* (``quarantine``): an infrastructure failure during a run; for the rest of that run (``run_id``)
  in every worker; a new run starts with the board usable again;
- *bad health* (``set_health(board, ok=False, evidence)``): the health suite failed on it; it stays out of every
  lease of every run until a later health check passes (``include_bad=True`` is how the health suite leases it).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.lab.model import Lab
from harness.wait import wait_until

log = logging.getLogger(__name__)
HOST_ENV = "MALINA_HOST_ID"


class NoBoardFree(RuntimeError):
    """No board of the lab satisfies the request right now (``permanent``: not in this run, since too many of
    the candidates are quarantined or bad, or there are too few)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def host_id() -> str:
    """This host's id in the leases: ``MALINA_HOST_ID`` (CI runners in containers share host names) or the
    host name."""
    return os.environ.get(HOST_ENV) or socket.gethostname()


def holder_alive(pid: int, host: str) -> bool:
    """Whether a lease holder may still run: known only for a holder on this host; elsewhere the TTL decides."""
    if host != host_id() or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Holding:
    """One board as a store sees it (``malina boards`` prints these)."""

    board: str
    owner: str | None = None
    host: str | None = None
    pid: int | None = None
    since: float | None = None
    expires: float | None = None
    quarantined: str | None = None  # the reason of the last quarantine, in run ``quarantine_run``
    quarantine_run: str | None = None
    health: str = "unknown"  # ok | bad | unknown
    health_at: float | None = None
    evidence: dict[str, Any] | None = None


@dataclass
class Lease:
    store: LeaseStore
    board: str
    owner: str
    id: str = ""  # the backend store's lease id (one per acquisition); the file store keys by owner
    since: float = field(default_factory=time.time)

    def renew(self) -> None:
        self.store.renew(self)

    def release(self) -> None:
        self.store.release(self)


class LeaseStore(Protocol):
    """Where the leases of one lab live (a file on this host, or the backend's database)."""

    ttl: float
    run_id: str

    def acquire(self, candidates: Sequence[str], owner: str, *, count: int = 1,
                include_bad: bool = False) -> list[Lease]:
        """Lease ``count`` boards among ``candidates`` (in order), all or none; ``NoBoardFree`` otherwise."""
        ...

    def wait_acquire(self, candidates: Sequence[str], owner: str, *, count: int = 1, timeout: float = 600.0,
                     include_bad: bool = False) -> list[Lease]:
        """``acquire`` until it succeeds (``wait_acquire()`` below); ``NoBoardFree`` at once when it never can
        in this run, or after ``timeout``."""
        ...

    def renew(self, lease: Lease) -> None: ...
    def release(self, lease: Lease) -> None: ...
    def quarantine(self, board: str, reason: str) -> None:
        """Keep ``board`` out of every lease of this run (``run_id``)."""
        ...

    def quarantined(self) -> dict[str, str]:
        """Boards quarantined in this run and why."""
        ...

    def set_health(self, board: str, ok: bool, evidence: dict[str, Any]) -> None:
        """Record a health check's outcome: a bad board is leased to nothing but a health check until a later
        check passes."""
        ...

    def holdings(self) -> list[Holding]: ...
    def close(self) -> None: ...


def wait_acquire(store: LeaseStore, candidates: Sequence[str], owner: str, *, count: int = 1,
                 timeout: float = 600.0, include_bad: bool = False, interval: float = 1.0) -> list[Lease]:
    """``store.acquire`` until it succeeds; ``NoBoardFree`` at once when it never can in this run."""
    why: list[str] = []

    def free() -> list[Lease] | None:
        try:
            return store.acquire(candidates, owner, count=count, include_bad=include_bad)
        except NoBoardFree as exc:
            if exc.permanent:  # never in this run: no use waiting
                raise
            why[:] = [str(exc)]
            return None

    return wait_until(f"{count} free board(s) among {list(candidates)}", free, timeout=timeout, interval=interval,
                      describe=lambda: why[-1] if why else None, error=NoBoardFree)


def refusal(candidates: Sequence[str], count: int, free: list[str], busy: dict[str, str | None],
            out: dict[str, str]) -> NoBoardFree:
    """The one ``NoBoardFree`` message of both stores (``out``: quarantined or bad boards and why)."""
    return NoBoardFree(f"{count} board(s) wanted among {list(candidates)}, free: {free}, busy: {busy}, "
                       f"quarantined this run or bad: {out}", permanent=len(candidates) - len(out) < count)


class FileLeaseStore:
    """The leases of one lab in a local file: every process of this host (see the module docstring)."""

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

    def _free(self, entry: dict[str, Any]) -> bool:
        if not entry.get("owner"):
            return True
        if float(entry.get("expires", 0)) < self.clock():
            return True
        return not holder_alive(int(entry.get("pid", 0)), str(entry.get("host", "")))

    def _out(self, entry: dict[str, Any], include_bad: bool) -> str | None:
        """Why the board is out of leases (quarantined this run, or bad), or None."""
        if entry.get("quarantined") and entry.get("quarantine_run") == self.run_id:
            return str(entry["quarantined"])
        if not include_bad and entry.get("health") == "bad":
            return f"bad health: {str((entry.get('evidence') or {}).get('message', ''))[:200]}"
        return None

    def quarantined(self) -> dict[str, str]:
        with self._table() as table:
            return {b: str(e["quarantined"]) for b, e in table.items()
                    if e.get("quarantined") and e.get("quarantine_run") == self.run_id}

    def acquire(self, candidates: Sequence[str], owner: str, *, count: int = 1,
                include_bad: bool = False) -> list[Lease]:
        """Lease ``count`` boards among ``candidates`` (in order), all or none."""
        now = self.clock()
        with self._table() as table:
            out = {n: why for n in candidates if (why := self._out(table.get(n, {}), include_bad)) is not None}
            free = [n for n in candidates if n not in out and self._free(table.get(n, {}))]
            if len(free) < count:
                busy = {n: table.get(n, {}).get("owner") for n in candidates if n not in free and n not in out}
                raise refusal(candidates, count, free, busy, out)
            chosen = free[:count]
            for name in chosen:
                keep = {k: v for k, v in table.get(name, {}).items()
                        if k.startswith("quarantine") or k in ("health", "health_at", "evidence")}
                table[name] = {**keep, "owner": owner, "pid": os.getpid(), "host": host_id(), "since": now,
                               "expires": now + self.ttl}
        return [Lease(self, name, owner, since=now) for name in chosen]

    def wait_acquire(self, candidates: Sequence[str], owner: str, *, count: int = 1, timeout: float = 600.0,
                     include_bad: bool = False) -> list[Lease]:
        return wait_acquire(self, candidates, owner, count=count, timeout=timeout, include_bad=include_bad)

    def renew(self, lease: Lease) -> None:
        with self._table() as table:
            entry = table.get(lease.board)
            if entry and entry.get("owner") == lease.owner:
                entry["expires"] = self.clock() + self.ttl

    def release(self, lease: Lease) -> None:
        with self._table() as table:
            entry = table.get(lease.board)
            if entry and entry.get("owner") == lease.owner:
                for key in ("owner", "pid", "host", "since", "expires"):
                    entry.pop(key, None)

    def quarantine(self, board: str, reason: str) -> None:
        with self._table() as table:
            entry = table.setdefault(board, {})
            entry["quarantined"] = reason
            entry["quarantine_run"] = self.run_id

    def set_health(self, board: str, ok: bool, evidence: dict[str, Any]) -> None:
        with self._table() as table:
            entry = table.setdefault(board, {})
            entry.update(health="ok" if ok else "bad", health_at=self.clock(), evidence=evidence)

    def holdings(self) -> list[Holding]:
        with self._table() as table:
            entries = {name: dict(entry) for name, entry in table.items()}
        out = []
        for name, e in sorted(entries.items()):
            held = not self._free(e)
            out.append(Holding(
                board=name, owner=e.get("owner") if held else None, host=e.get("host") if held else None,
                pid=e.get("pid") if held else None, since=e.get("since") if held else None,
                expires=e.get("expires") if held else None,
                quarantined=str(e["quarantined"]) if e.get("quarantined") else None,
                quarantine_run=e.get("quarantine_run"),
                health=str(e.get("health", "unknown")), health_at=e.get("health_at"), evidence=e.get("evidence")))
        return out

    def close(self) -> None:
        pass


LeaseRegistry = FileLeaseStore  # the name before the stores had an interface


class Heartbeat:
    """Renews leases every ``interval`` seconds from a daemon thread until stopped. A renewal that fails (the
    backend briefly unreachable) is logged and tried again next time: the TTL is the margin."""

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
                except Exception as exc:  # keep renewing the others; the next beat tries again
                    log.warning("renewing the lease of %s: %s", lease.board, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def heartbeat_interval(ttl: float) -> float:
    """A third of the TTL: two beats may be lost before a lease runs out."""
    return max(0.1, ttl / 3)


def open_store(lab: Lab, *, directory: Path, run_id: str, ttl: float) -> LeaseStore:
    """The store lab.yaml's ``leases.store`` names: the lease file in ``directory``, or the backend."""
    if lab.leases.store == "backend":
        from harness.backendleases import BackendLeaseStore  # it imports this module

        b = lab.services.backend
        return BackendLeaseStore.connect(lab.lease_url, b.read_token, b.write_token, lab.lab.name, run_id=run_id,
                                         ttl=ttl)
    return FileLeaseStore(directory, lab.lab.name, run_id=run_id, ttl=ttl)
