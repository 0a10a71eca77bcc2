"""``GET /metrics`` on SQLite and PostgreSQL: behind the read token, parsed by prometheus_client's own text parser,
every name ``malina_*``, and the values move with what happens: options asks and their latency, an install's
phases on the fake clock, results, cancellations, expiries, flags, machines by state, the hook's counters from a
stand-in kea-ctrl-agent (``malina_hook_up`` 0 when it fails)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from backend_helpers import READ, SHA, WRITE, FakeClock, KeaStub, auth, machine, port_query
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from backend import keastats, migrate
from backend.app import create_app
from backend.config import Settings
from backend.db import Database
from backend.metrics import Metrics, attempt_result, flag_kind
from backend.service import Service

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
HOOK_STATS = {"backend-calls": 7, "backend-answers": 6, "cache-hits": 3, "failure-policy": 1, "overloaded": 0,
              "breaker-open": 2, "cache-entries": 4, "backend-in-flight-limit": 10}


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("malina_"), family.name
        assert family.documentation, family.name
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(client: TestClient) -> Samples:
    resp = client.get("/metrics", headers=auth(READ))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(resp.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def ask(client: TestClient, n: int = 1, **extra: str) -> dict[str, Any]:
    resp = client.get("/v1/dhcp/options", params=port_query(n, **extra))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def token_of(answer: dict[str, Any]) -> str:
    return str(answer["224"]).rsplit("/", 1)[1]


def add(client: TestClient, **kw: Any) -> None:
    resp = client.post("/v1/admin/machines", json=machine(**kw), headers=auth(WRITE))
    assert resp.status_code == 201, resp.text


def test_metrics_need_an_admin_token(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth("not-a-token")).status_code == 401
    assert client.get("/metrics", headers=auth(WRITE)).status_code == 200
    assert value(scrape(client), "malina_database_up") == 1


def test_an_install_counts_its_phases_and_the_options_asks(client: TestClient, clock: FakeClock) -> None:
    before = scrape(client)
    assert value(before, "malina_installs_total", result="success") == 0
    add(client)
    first = ask(client)  # a new token: the write path
    assert token_of(ask(client)) == token_of(first)  # the same token again: one read
    token = token_of(first)
    steps: list[tuple[float, str, dict[str, Any] | None]] = [
        (2, "", None), (3, "progress", {"phase": "writing", "bytes_written": 1024, "bytes_total": 4096}),
        (10, "progress", {"phase": "verifying", "bytes_written": 4096, "bytes_total": 4096}),
        (4, "result", {"status": "success", "sha256": SHA, "bytes_written": 4096}), (5, "booted", None)]
    for seconds, path, body in steps:
        clock.advance(seconds)
        url = f"/v1/install/{token}" + (f"/{path}" if path else "")
        resp = client.post(url, json=body)
        assert resp.status_code == 200, resp.text
    after = scrape(client)
    assert value(after, "malina_options_requests_total", answer="install") == 2
    assert value(after, "malina_options_latency_seconds_count", path="write") == 1
    assert value(after, "malina_options_latency_seconds_count", path="read") == 1
    assert value(after, "malina_options_latency_seconds_sum", path="read") > 0
    for phase, seconds in (("pending", 2), ("netbooting", 3), ("writing", 10), ("verifying", 4), ("configured", 5)):
        assert value(after, "malina_install_phase_seconds_count", phase=phase) == 1, phase
        assert value(after, "malina_install_phase_seconds_sum", phase=phase) == pytest.approx(seconds), phase
    assert value(after, "malina_install_phase_seconds_bucket", phase="writing", le="5.0") == 0
    assert value(after, "malina_install_phase_seconds_bucket", phase="writing", le="10.0") == 1
    assert value(after, "malina_installs_total", result="success") == 1
    assert value(after, "malina_install_duration_seconds_sum") == pytest.approx(19)
    assert value(after, "malina_machines", boot_mode="local", state="booted-ok") == 1
    assert value(after, "malina_machines", boot_mode="install", state="none") == 0


def test_failures_cancellations_expiries_and_flags(client: TestClient, clock: FakeClock) -> None:
    add(client, name="pi-01", n=1)
    add(client, name="pi-02", n=2, boot_mode="local")
    token = token_of(ask(client, 1))
    client.post(f"/v1/install/{token}")
    assert client.post(f"/v1/install/{token}/result", json={"status": "failure", "error": "disk"}).status_code == 200
    ask(client, 1)  # a new attempt, cancelled by the operator
    assert client.post("/v1/admin/machines/pi-01/reinstall", headers=auth(WRITE)).status_code == 200
    ask(client, 1)  # a new attempt whose token runs out
    clock.advance(601)
    ask(client, 1)
    installing = scrape(client)
    assert value(installing, "malina_machines", boot_mode="install", state="pending") == 1
    for _ in range(4):  # a local machine asking over and over: the loop guard flags it (count 3)
        ask(client, 2)
    assert client.get("/v1/dhcp/options", params={"sub82_1": "zz"}).status_code == 422
    samples = scrape(client)
    for result in ("failed", "cancelled", "expired"):
        assert value(samples, "malina_installs_total", result=result) == 1, result
    assert value(samples, "malina_flags_total", kind="loop") == 1
    assert value(samples, "malina_machines_flagged", kind="loop") == 1
    assert value(samples, "malina_options_requests_total", answer="local") == 4
    assert value(samples, "malina_options_requests_total", answer="error") == 1
    ask(client, 1, mac="dc:a6:32:00:00:99")  # another board on pi-01's port: an identity flag
    samples = scrape(client)
    assert value(samples, "malina_flags_total", kind="identity") == 1
    assert value(samples, "malina_machines_flagged", kind="identity") == 1


def test_the_hook_counters_come_from_kea(client: TestClient, kea: KeaStub) -> None:
    kea.answer = [{"result": 0, "text": "remote-options counters", "arguments": HOOK_STATS}]
    samples = scrape(client)
    assert kea.commands[-1] == {"command": "remote-options-stats", "service": ["dhcp4"]}
    assert value(samples, "malina_hook_up") == 1
    for kea_name, name in keastats.COUNTERS.items():
        assert value(samples, f"malina_hook_{name}_total") == HOOK_STATS[kea_name], name
    assert value(samples, "malina_hook_cache_entries") == 4
    assert value(samples, "malina_hook_backend_in_flight_limit") == 10
    kea.status = 500
    samples = scrape(client)
    assert value(samples, "malina_hook_up") == 0
    assert not any(name.startswith("malina_hook_backend_calls") for name, _ in samples)
    kea.close()  # nobody answers on that port any more
    assert value(scrape(client), "malina_hook_up") == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_hook_metrics_without_kea_and_database_down(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    db = Database(f"sqlite:///{folder / 'malina.db'}")
    migrate.upgrade(db.engine)
    service = Service(db, settings.with_(kea_control_url=None))
    try:
        with TestClient(create_app(service.settings, service)) as client:
            samples = scrape(client)
            assert not any(name.startswith("malina_hook") for name, _ in samples)
            db.dispose()
            shutil.rmtree(folder)  # the database's file and folder are gone: it cannot be opened
            samples = scrape(client)
            assert value(samples, "malina_database_up") == 0
            assert value(samples, "malina_installs_total", result="success") == 0
    finally:
        service.close()


def test_kea_answers_are_read_carefully() -> None:
    assert keastats.parse([{"result": 0, "arguments": {"backend-calls": 5, "cache-hits": True, "other": 1}}]) == {
        "backend-calls": 5}
    assert keastats.parse({"result": 0, "arguments": {"overloaded": 2}}) == {"overloaded": 2}
    for bad in ([{"result": 1, "text": "unknown command"}], [], "text", [{"result": 0}], None):
        assert keastats.parse(bad) is None, bad


def test_flag_kinds_and_results() -> None:
    assert flag_kind("loop guard: more than 5 boot asks within 600 s while booting local") == "loop"
    assert flag_kind("attempt cap 3 reached") == "attempts"
    assert flag_kind("3 install attempts failed (cap 3); last: disk") == "attempts"
    assert flag_kind("the installer reports serial 1234abcd, but pi-01's serial is 6e87a401") == "identity"
    assert flag_kind("seen on an unknown switch port (x)") == "identity"
    assert attempt_result("disk full", "failure") == "failed"
    assert attempt_result("cancelled by reinstall", None) == "cancelled"
    assert attempt_result("token expired in state writing", None) == "expired"
    metrics = Metrics()
    metrics.phase_left("writing", "netbooting", 30.0)  # the installer started over: no writing duration
    metrics.phase_left("writing", "failed", 30.0)
    assert 'malina_install_phase_seconds_count{phase="writing"} 0.0' in generate_latest(metrics.registry).decode()
