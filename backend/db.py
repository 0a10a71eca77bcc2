"""Engine and sessions: a SQLite file (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from backend.config import ConfigError

PG_TRANSACTIONS = 2  # transactions of this process at once on PostgreSQL (see Database)


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default driver, psycopg2, is not installed)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"not a database URL: {url!r} (e.g. sqlite:////var/lib/malina/malina.db)") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    # up to 64 MiB of pages per connection (the default is 2 MiB): 10,000 machines' rows and indexes stay in it
    # (a hot read 37 µs instead of 51 µs, bench/README.md "Scale")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:":
            raise ConfigError("an in-memory SQLite database is not supported: give a file path")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ConfigError(f"the directory of the SQLite database does not exist: {parent}")
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 5.0}, pool_size=8, max_overflow=16
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=8, max_overflow=16, pool_recycle=1800)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time and its busy handler waits by sleeping (up to 100 ms a step):
        # writers of this process queue on a lock instead, which wakes them at once. PostgreSQL locks rows and
        # could take them all at once, but every transaction thread competes with the event loop's thread for
        # the GIL at each of its round trips: a storm of first asks (a token each) ran up to the thread pool's
        # 40 transactions side by side and held the hot path's reads back by tens of ms (bench/README.md,
        # "PostgreSQL p99"). A few at a time keep PostgreSQL busy and the loop served.
        self._write_lock: threading.Lock | threading.BoundedSemaphore = (
            threading.Lock() if self.backend == "sqlite" else threading.BoundedSemaphore(PG_TRANSACTIONS))

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on any exception."""
        with self._write_lock, self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only, beside the writers: no writer lock or slot (SQLite's WAL and PostgreSQL's
        MVCC give a reader its snapshot while a writer works). Nothing it does is committed."""
        with self.sessions() as session, session.begin():
            yield session
            session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
