"""Issue 13.5, the smaller findings: MALINA_PUBLIC_URL required, a body limit and a per-port rate limit on the
agent routes, no database text to unauthenticated callers (a request id instead), no token in the access log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from backend_helpers import HOOK_AUTH, FakeClock, port_query
from fastapi.testclient import TestClient

from backend import migrate
from backend.agentlimits import TokenBuckets, port_key
from backend.app import create_app
from backend.config import ConfigError, Settings
from backend.db import Database
from backend.service import Service

TOKEN = "A" * 43
AGENT = f"/v1/install/{TOKEN}/progress"
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # nothing here depends on the database
PROGRESS = {"phase": "writing", "bytes_written": 0, "bytes_total": 4096, "rate_bps": 1.0}


@SQLITE
def test_the_app_refuses_to_start_without_the_public_url(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="MALINA_PUBLIC_URL is not set"):
        create_app(settings.with_(public_url=None))


@SQLITE
def test_a_large_body_is_413(client: TestClient) -> None:
    r = client.post(AGENT, content=b"{" + b" " * 70_000 + b"}", headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "larger than 65536 bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b" " * 4096

    r = client.post(AGENT, content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    # a body within the limit reaches the route (an unknown token: 404)
    assert client.post(AGENT, json=PROGRESS).status_code == 404


@SQLITE
def test_each_port_is_rate_limited(service: Service, settings: Settings) -> None:
    limited = settings.with_(agent_rate_per_s=1.0, agent_burst=3)
    app = create_app(limited, service)
    with TestClient(app, client=("10.90.1.100", 5000)) as port1, \
            TestClient(app, client=("10.90.2.100", 5000)) as port2:
        codes = [port1.post(AGENT, json=PROGRESS).status_code for _ in range(5)]
        assert codes[:3] == [404, 404, 404] and codes[3:] == [429, 429]
        refused = port1.post(AGENT, json=PROGRESS)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert port2.post(AGENT, json=PROGRESS).status_code == 404  # another port has its own bucket
        # the hook's route is not an agent route: never limited here
        assert all(port1.get("/v1/dhcp/options", params=port_query(9), headers=HOOK_AUTH).status_code == 200
                   for _ in range(10))


def test_token_buckets_refill() -> None:
    clock = FakeClock(0.0)
    buckets = TokenBuckets(rate=2.0, burst=2, clock=clock)
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    clock.advance(0.5)
    assert buckets.take("a") == 0.0
    assert port_key("10.90.1.77", 24) == "10.90.1.0/24" and port_key(None, 24) == "?"


@pytest.fixture
def unmigrated(tmp_path: Path, settings: Settings) -> Iterator[TestClient]:
    """A backend whose database has no tables: every query fails with the database's own error text."""
    broken = settings.with_(db_url=f"sqlite:///{tmp_path / 'empty.db'}")
    service = Service(Database(broken.db_url), broken)
    with TestClient(create_app(broken, service), raise_server_exceptions=False) as c:
        c.headers.update(HOOK_AUTH)
        yield c
    service.close()


@SQLITE
def test_database_errors_stay_in_the_log(unmigrated: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="backend")
    for r in (unmigrated.get("/v1/dhcp/options", params=port_query(1)), unmigrated.post(AGENT, json=PROGRESS)):
        assert r.status_code == 503, r.text
        body = r.json()
        assert "no such table" not in r.text and "Error" not in r.text
        rid = body["request_id"]
        assert body["detail"] == f"database unavailable (request {rid})" and r.headers["X-Request-Id"] == rid
        assert any(rid in record.getMessage() and "no such table" in record.getMessage()
                   for record in caplog.records)


@SQLITE
def test_tokens_are_redacted_in_the_access_log(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    access = logging.getLogger("uvicorn.access")
    # uvicorn's access-log record: the path is an argument
    access.info('%s - "%s %s HTTP/%s" %d', "10.90.1.100:5000", "POST", f"/v1/install/{TOKEN}/progress", "1.1", 200)
    access.info(f"GET /v1/install/{TOKEN}?serial=6e87a401 200")  # or in the message itself
    assert TOKEN not in caplog.text
    assert caplog.text.count("/v1/install/<redacted>") == 2


@SQLITE
def test_migrated_database_is_fine(tmp_path: Path, settings: Settings) -> None:
    """The broken fixture above is broken only by its missing tables (the same settings work once migrated)."""
    db = Database(f"sqlite:///{tmp_path / 'ok.db'}")
    migrate.upgrade(db.engine)
    service = Service(db, settings.with_(db_url=db.url))
    with TestClient(create_app(service.settings, service)) as c:
        assert c.get("/v1/dhcp/options", params=port_query(1), headers=HOOK_AUTH).status_code == 200
    service.close()
