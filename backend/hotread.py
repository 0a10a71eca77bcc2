"""The options endpoint's one read, at DB-API level.

The statement is built with SQLAlchemy once and compiled for the engine's dialect; each thread then keeps
its own autocommit DB-API connection (detached from the pool, set up by the engine's connect hooks) and runs
the compiled SQL on it: no pool checkout, no transaction, no ORM. A connection that fails is dropped and the
read retried once on a fresh one.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from sqlalchemy import Engine, bindparam, or_, select

from backend.decision import MachineFacts
from backend.errors import Unavailable
from backend.models import Attempt, Machine

# The port's machine (exact key or the key without sub-option 9) and any machine with the asking MAC or
# serial, each with its current attempt: the facts ``decision.decide`` needs, in ``MachineFacts`` order.
_STATEMENT = (
    select(Machine.id, Machine.name, Machine.port_key, Machine.mac, Machine.serial, Machine.guid_serial,
           Machine.boot_mode, Machine.flagged, Machine.mode_changed_at, Machine.attempts, Attempt.state,
           Attempt.token, Attempt.expires_at, Attempt.result_status, Machine.boot_local_method)
    .outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
    .where(or_(Machine.port_key.in_([bindparam("k1"), bindparam("k2")]), Machine.mac == bindparam("mac"),
               Machine.serial.in_([bindparam("s1"), bindparam("s2")])))
)


class HotReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        compiled = _STATEMENT.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.positions: tuple[str, ...] | None = tuple(compiled.positiontup) if compiled.positiontup else None
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        existing = getattr(self._local, "conn", None)
        if existing is not None:
            return existing
        proxied = self.engine.raw_connection()
        proxied.detach()
        conn: Any = proxied.dbapi_connection
        if self.engine.dialect.name == "sqlite":
            conn.isolation_level = None  # autocommit: a bare SELECT, no BEGIN
        else:
            conn.autocommit = True
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
            with contextlib.suppress(Exception):  # a broken connection may fail to close; it is gone anyway
                conn.close()

    def rows(self, keys: list[str], mac: str | None, serials: tuple[str, ...]) -> list[MachineFacts]:
        s1, s2 = (serials[0], serials[-1]) if serials else (None, None)
        params: dict[str, Any] = {"k1": keys[0], "k2": keys[-1], "mac": mac, "s1": s1, "s2": s2}
        args: Any = tuple(params[name] for name in self.positions) if self.positions else params
        for attempt in (0, 1):
            try:
                cur = self._connection().cursor()
                try:
                    cur.execute(self.sql, args)
                    fetched = cur.fetchall()
                finally:
                    cur.close()
                return [_row(row) for row in fetched]
            except self.engine.dialect.loaded_dbapi.Error as exc:
                self._drop()
                if attempt:
                    raise Unavailable("database unavailable", private=f"{type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(Exception):  # closing at shutdown: nothing left to do about a failure
                conn.close()


def _row(raw: Any) -> MachineFacts:
    # SQLite returns the flag as 0/1
    return MachineFacts(raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], bool(raw[7]), raw[8], raw[9],
                        raw[10], raw[11], raw[12], raw[13], raw[14])
