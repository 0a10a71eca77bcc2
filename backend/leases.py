"""Board leases for the harnesses of every CI host that drives one rack (``/v1/leases``, ``/v1/boards``).

The harness's ``BackendLeaseStore`` (harness/backendleases.py) is the client; the semantics are those of its
file store (harness/leases.py): a lease of ``count`` boards among candidates, all or none, for ``ttl`` seconds,
renewed by the holder; free again when the TTL ran out (the backend's clock decides, so the hosts' clocks need
not agree) or when the holder releases it. A holder that died on the caller's own host is released by the
caller (it alone can see the pid), by lease id. Quarantine is per run; a bad health check keeps a board out of
every lease but a health check's until a later check passes.

Acquisition is one transaction: the candidates' rows are created if missing (insert, ignoring conflicts), then
locked in board order (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time), checked and
taken. Two hosts asking at once serialise on the rows, so no board is ever held twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from backend.db import Database
from backend.errors import Conflict, NotFound, Unavailable
from backend.models import BoardLease
from backend.schemas import NAME_PATTERN

log = logging.getLogger("backend.leases")
T = TypeVar("T")
RETRIES = 6
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
# printable text: owners, hosts and reasons end up in terminals and in PostgreSQL (which refuses NUL)
Text = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcquireIn(_In):
    lab: Name
    boards: list[Name] = Field(min_length=1, max_length=256, description="candidates, in order of preference")
    owner: Text
    host: Text
    pid: int = Field(default=0, ge=0, le=2**31 - 1, description="the holder's process on its host")
    ttl: float = Field(gt=0.0, le=7 * 86400.0, description="seconds the lease lives without a renewal")
    count: int = Field(default=1, ge=1, le=256)
    run_id: Annotated[str, Field(max_length=64)] = Field(default="", description="boards quarantined in this "
                                                                                 "run are not leased")
    include_bad: bool = Field(default=False, description="a health check: boards marked bad may be leased")


class LeaseOut(BaseModel):
    id: str
    lab: str
    board: str
    owner: str
    host: str
    pid: int
    since: float
    expires: float
    ttl: float


class AcquireOut(BaseModel):
    """``leases`` holds the boards taken (empty when the request could not be met: then ``free``, ``busy`` and
    ``out`` say why)."""

    leases: list[LeaseOut]
    free: list[str]
    busy: dict[str, str]
    out: dict[str, str] = Field(description="candidates quarantined in this run or bad, and why")


class BoardOut(BaseModel):
    lab: str
    board: str
    lease: LeaseOut | None
    quarantined: str | None
    quarantine_run: str | None
    health: str
    health_at: float | None
    evidence: dict[str, Any] | None


class BoardList(BaseModel):
    boards: list[BoardOut]


class LeaseList(BaseModel):
    leases: list[LeaseOut]


class QuarantineIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    run_id: Annotated[str, Field(max_length=64)] = ""


class HealthIn(_In):
    ok: bool
    evidence: dict[str, Any] = Field(default_factory=dict, description="what the check saw (stage, message, "
                                                                       "console tail)")


def _held(row: BoardLease, now: float) -> bool:
    return row.lease_id is not None and row.expires is not None and row.expires >= now


def _lease(row: BoardLease) -> LeaseOut:
    return LeaseOut(id=row.lease_id or "", lab=row.lab, board=row.board, owner=row.owner or "", host=row.host or "",
                    pid=row.pid or 0, since=row.since or 0.0, expires=row.expires or 0.0, ttl=row.ttl or 0.0)


def _board(row: BoardLease, now: float) -> BoardOut:
    return BoardOut(lab=row.lab, board=row.board, lease=_lease(row) if _held(row, now) else None,
                    quarantined=row.quarantine_reason, quarantine_run=row.quarantine_run, health=row.health,
                    health_at=row.health_at, evidence=row.health_evidence)


def _out(row: BoardLease, run_id: str, include_bad: bool) -> str | None:
    if row.quarantine_reason and run_id and row.quarantine_run == run_id:
        return row.quarantine_reason
    if row.health == "bad" and not include_bad:
        return f"bad health: {str((row.health_evidence or {}).get('message', ''))[:200]}"
    return None


def _retryable(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text or getattr(exc.orig, "sqlstate", None) in ("40001", "40P01")


class BoardLeases:
    """The lease operations, one transaction each (retried when PostgreSQL picked this one as a deadlock's
    victim or SQLite was busy)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def _run(self, operation: Callable[[Session], T]) -> T:
        """``operation`` in one transaction, tried again when a concurrent writer won."""
        for attempt in range(RETRIES):
            try:
                with self.db.transaction() as session:
                    return operation(session)
            except IntegrityError as exc:  # two first leases of a board created its row at once: try again
                log.info("lease transaction conflict (attempt %d): %s", attempt + 1, exc.orig)
            except DBAPIError as exc:
                if not _retryable(exc):
                    log.error("database error: %s", exc)
                    raise Unavailable("database unavailable", private=str(exc)) from None
            time.sleep(0.005 * (attempt + 1))
        raise Conflict("the leases were changed concurrently; try again")

    def _rows(self, session: Session, lab: str, boards: list[str]) -> dict[str, BoardLease]:
        """The boards' rows, created when missing, locked (in board order: two callers never deadlock)."""
        names = sorted(set(boards))
        now = self.clock()
        values = [{"lab": lab, "board": b, "health": "unknown", "updated_at": now} for b in names]
        dialect = postgresql if self.db.backend == "postgresql" else sqlite
        session.execute(dialect.insert(BoardLease).values(values).on_conflict_do_nothing())
        query = (select(BoardLease).where(BoardLease.lab == lab, BoardLease.board.in_(names))
                 .order_by(BoardLease.board).with_for_update())
        return {row.board: row for row in session.execute(query).scalars()}

    def acquire(self, req: AcquireIn) -> AcquireOut:
        def take(session: Session) -> AcquireOut:
            rows = self._rows(session, req.lab, req.boards)
            now = self.clock()
            candidates = list(dict.fromkeys(req.boards))
            out = {b: why for b in candidates if (why := _out(rows[b], req.run_id, req.include_bad)) is not None}
            free = [b for b in candidates if b not in out and not _held(rows[b], now)]
            if len(free) < req.count:
                busy = {b: rows[b].owner or "" for b in candidates if b not in free and b not in out}
                return AcquireOut(leases=[], free=free, busy=busy, out=out)
            taken = []
            for name in free[: req.count]:
                row = rows[name]
                row.lease_id, row.owner, row.host, row.pid = secrets.token_hex(12), req.owner, req.host, req.pid
                row.since, row.expires, row.ttl, row.updated_at = now, now + req.ttl, req.ttl, now
                taken.append(_lease(row))
            return AcquireOut(leases=taken, free=free, busy={}, out=out)

        result = self._run(take)
        if result.leases:
            log.info("lease %s: %s to %s@%s", req.lab, [t.board for t in result.leases], req.owner, req.host)
        return result

    def _by_id(self, session: Session, lease_id: str) -> BoardLease | None:
        query = select(BoardLease).where(BoardLease.lease_id == lease_id).with_for_update()
        return session.execute(query).scalars().first()

    def renew(self, lease_id: str) -> LeaseOut:
        """Push the lease's expiry out by its TTL; 404 when the lease is no longer its holder's."""

        def renew(session: Session) -> LeaseOut:
            row = self._by_id(session, lease_id)
            if row is None:
                raise NotFound(f"no lease {lease_id}: released, or taken by another holder after its TTL")
            now = self.clock()
            row.expires, row.updated_at = now + (row.ttl or 0.0), now
            return _lease(row)

        return self._run(renew)

    def release(self, lease_id: str) -> None:
        """Free the board; an unknown id (released already, or taken over after its TTL) changes nothing."""

        def release(session: Session) -> None:
            row = self._by_id(session, lease_id)
            if row is not None:
                row.lease_id = row.owner = row.host = None
                row.pid = None
                row.since = row.expires = row.ttl = None
                row.updated_at = self.clock()
                log.info("lease %s: %s released", row.lab, row.board)

        self._run(release)

    def _change(self, lab: str, board: str, change: Callable[[BoardLease, float], None]) -> BoardOut:
        """Change one board's row (created when missing) in one transaction."""

        def run(session: Session) -> BoardOut:
            row = self._rows(session, lab, [board])[board]
            now = self.clock()
            change(row, now)
            row.updated_at = now
            return _board(row, now)

        return self._run(run)

    def quarantine(self, lab: str, board: str, body: QuarantineIn) -> BoardOut:
        def change(row: BoardLease, _now: float) -> None:
            row.quarantine_reason, row.quarantine_run = body.reason, body.run_id

        log.warning("board %s/%s quarantined (run %s): %s", lab, board, body.run_id, body.reason)
        return self._change(lab, board, change)

    def unquarantine(self, lab: str, board: str) -> BoardOut:
        def change(row: BoardLease, _now: float) -> None:
            row.quarantine_reason = row.quarantine_run = None

        return self._change(lab, board, change)

    def set_health(self, lab: str, board: str, body: HealthIn) -> BoardOut:
        def change(row: BoardLease, now: float) -> None:
            row.health, row.health_at, row.health_evidence = "ok" if body.ok else "bad", now, body.evidence

        if not body.ok:
            log.warning("board %s/%s failed its health check: %s", lab, board, body.evidence.get("message"))
        return self._change(lab, board, change)

    def boards(self, lab: str | None) -> BoardList:
        with self.db.sessions() as session:
            query = select(BoardLease).order_by(BoardLease.lab, BoardLease.board)
            if lab is not None:
                query = query.where(BoardLease.lab == lab)
            now = self.clock()
            return BoardList(boards=[_board(row, now) for row in session.execute(query).scalars()])

    def leases(self, lab: str | None) -> LeaseList:
        return LeaseList(leases=[b.lease for b in self.boards(lab).boards if b.lease is not None])
