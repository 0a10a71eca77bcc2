"""Fixtures of the backend tests: a real PostgreSQL server (started once per session, never mocked), a fresh
database per test on SQLite and on PostgreSQL, the service on a fake clock, the HTTP app and a stub
kea-ctrl-agent that records cache flushes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from backend_helpers import HOOK_AUTH, READ, WRITE, FakeClock, KeaStub, board_client, write_hook_secret
from fastapi.testclient import TestClient

from backend import migrate
from backend.app import create_app
from backend.config import Settings
from backend.db import Database
from backend.pgcluster import PgCluster
from backend.service import Service

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    # Failing to start PostgreSQL fails every PostgreSQL test: it is never skipped.
    with PgCluster() as pg:
        yield pg


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'malina.db'}"
        return
    pg: PgCluster = request.getfixturevalue("pg_cluster")
    name = f"t{next(_db_counter)}"
    with psycopg.connect(
        host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/{name}"
    with psycopg.connect(
        host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kea() -> Iterator[KeaStub]:
    stub = KeaStub()
    yield stub
    stub.close()


@pytest.fixture
def settings(db_url: str, kea: KeaStub, tmp_path: Path) -> Settings:
    return Settings(
        db_url=db_url,
        public_url="http://10.89.0.3:8080",
        tftp_server="10.89.0.4",
        read_token=READ,
        write_token=WRITE,
        kea_control_url=kea.url,
        kea_timeout_s=2.0,
        max_attempts=3,
        token_ttl_s=600.0,
        loop_guard_count=3,
        loop_guard_window_s=60.0,
        hook_secret_file=write_hook_secret(tmp_path),
    )


@pytest.fixture
def service(settings: Settings, clock: FakeClock) -> Iterator[Service]:
    db = Database(settings.db_url)
    migrate.upgrade(db.engine)
    svc = Service(db, settings, clock=clock)
    yield svc
    svc.close()


@pytest.fixture
def client(service: Service, settings: Settings) -> Iterator[TestClient]:
    """The app, called from 10.90.1.100 (port 1's subnet); its agent calls (``/v1/install/...``) carry the
    identity of pi-01's board (``board_identity(1)``) unless the test gives a ``serial`` of its own; every call
    carries the hook's credential (a request's own Authorization, the admin's, replaces it)."""
    with board_client(create_app(settings, service), 1) as c:
        c.headers.update(HOOK_AUTH)
        yield c
