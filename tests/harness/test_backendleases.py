"""The backend lease store (harness/backendleases.py) against the backend app in-process (SQLite, a fake clock):
the same semantics as the file store, a dead holder on this host freed at once, one elsewhere only after its
TTL, a lost lease noticed by the renewal; the file store's health and holdings; ``open_store`` and lab.yaml's
``leases``, ``health`` and ``release_gate``; ``malina boards``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from backend import migrate
from backend.app import create_app
from backend.client import HttpAdmin
from backend.config import Settings
from backend.db import Database
from backend.service import Service
from harness import boards as boards_cli
from harness.backendleases import BackendLeaseStore, LeaseLost
from harness.lab.model import LabConfigError, parse_lab
from harness.leases import HOST_ENV, FileLeaseStore, NoBoardFree, host_id, open_store

REPO = Path(__file__).resolve().parents[2]
BOARDS = ["pi-01", "pi-02", "pi-03"]
READ, WRITE = "read-token-123-0123456789abcdef0123", "write-token-456-0123456789abcdef0123"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def admin(tmp_path: Path, clock: Clock) -> Iterator[HttpAdmin]:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", tftp_server="10.89.0.4", read_token=READ,
                        public_url="http://backend",
                        write_token=WRITE)
    db = Database(settings.db_url)
    migrate.upgrade(db.engine)
    service = Service(db, settings, clock=clock)
    admin = HttpAdmin("http://backend", WRITE, read_token=READ)
    with TestClient(create_app(settings, service), base_url="http://backend") as client:
        admin.http = client  # the admin client's requests go to the app in-process
        yield admin
    service.close()


def store(admin: HttpAdmin, run_id: str = "r1", ttl: float = 60.0) -> BackendLeaseStore:
    return BackendLeaseStore(admin, "sim", run_id=run_id, ttl=ttl)


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_exclusive_all_or_none_and_released(admin: HttpAdmin) -> None:
    s = store(admin)
    a = s.acquire(BOARDS, "w1")
    b = s.acquire(BOARDS, "w2", count=2)
    assert [x.board for x in a + b] == BOARDS and a[0].id != b[0].id
    with pytest.raises(NoBoardFree, match="busy") as info:
        s.acquire(BOARDS, "w3")
    assert not info.value.permanent
    a[0].release()
    with pytest.raises(NoBoardFree):
        s.acquire(BOARDS, "w3", count=2)
    assert s.acquire(BOARDS, "w3")[0].board == "pi-01"
    held = {h.board: h for h in s.holdings()}
    assert held["pi-01"].owner == "w3" and held["pi-01"].host == host_id() and held["pi-01"].since is not None


def test_ttl_renewal_and_a_lost_lease(admin: HttpAdmin, clock: Clock) -> None:
    s = store(admin, ttl=30)
    lease = s.acquire(["pi-01"], "w1")[0]
    clock.now += 25
    lease.renew()
    clock.now += 25
    with pytest.raises(NoBoardFree):
        s.acquire(["pi-01"], "w2")
    clock.now += 6
    assert s.acquire(["pi-01"], "w2")[0].owner == "w2"
    with pytest.raises(LeaseLost):
        lease.renew()
    lease.release()  # the stale holder's release does not free the new holder's lease
    with pytest.raises(NoBoardFree):
        s.acquire(["pi-01"], "w3")


def test_a_dead_holder_is_freed_at_once_on_its_host_only(admin: HttpAdmin, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = dead_pid()
    for board, where in (("pi-01", host_id()), ("pi-02", "another-host")):
        answer = admin.request("POST", "/v1/leases/acquire", {"lab": "sim", "boards": [board], "owner": "crashed",
                                                              "host": where, "pid": pid, "ttl": 600})
        assert answer["leases"]
    s = store(admin)
    assert s.acquire(["pi-01"], "w1")[0].board == "pi-01"  # its holder ran here and is gone
    with pytest.raises(NoBoardFree, match="crashed"):
        s.acquire(["pi-02"], "w1")  # a holder elsewhere: only its TTL frees the board
    monkeypatch.setenv(HOST_ENV, "another-host")  # the same check from the other host frees it at once
    assert s.acquire(["pi-02"], "w2")[0].board == "pi-02"


def test_quarantine_per_run_and_bad_health_until_a_check_passes(admin: HttpAdmin) -> None:
    s = store(admin)
    s.quarantine("pi-01", "no DHCP reply")
    assert s.quarantined() == {"pi-01": "no DHCP reply"}
    with pytest.raises(NoBoardFree, match="no DHCP reply") as info:
        s.wait_acquire(["pi-01"], "w1", timeout=30)
    assert info.value.permanent
    other = store(admin, run_id="r2")
    assert other.quarantined() == {}
    other.acquire(["pi-01"], "w1")[0].release()
    s.unquarantine("pi-01")
    assert s.quarantined() == {}

    s.set_health("pi-02", False, {"message": "no banner", "stage": "power-on"})
    with pytest.raises(NoBoardFree, match="no banner") as info:
        other.acquire(["pi-02"], "w1")
    assert info.value.permanent
    check = other.acquire(["pi-02"], "health", include_bad=True)[0]
    s.set_health("pi-02", True, {"message": "health check passed"})
    check.release()
    assert other.acquire(["pi-02"], "w1")[0].board == "pi-02"
    health = {h.board: h.health for h in s.holdings()}
    assert health == {"pi-01": "unknown", "pi-02": "ok"}


def test_file_store_keeps_bad_health_across_runs(tmp_path: Path) -> None:
    first = FileLeaseStore(tmp_path, "sim", run_id="r1")
    first.set_health("pi-01", False, {"message": "no DHCP answer"})
    later = FileLeaseStore(tmp_path, "sim", run_id="r2")
    with pytest.raises(NoBoardFree, match="no DHCP answer") as info:
        later.acquire(["pi-01"], "w1")
    assert info.value.permanent
    lease = later.acquire(["pi-01"], "health", include_bad=True)[0]
    later.set_health("pi-01", True, {"message": "health check passed"})
    held = {h.board: h for h in later.holdings()}["pi-01"]
    assert held.owner == "health" and held.health == "ok" and held.since == lease.since
    lease.release()
    assert later.acquire(["pi-01"], "w2")[0].board == "pi-01"


def lab_text(**extra: Any) -> str:
    doc: dict[str, Any] = yaml.safe_load((REPO / "lab.yaml").read_text())
    doc.update(extra)
    return yaml.safe_dump(doc, sort_keys=False)


def test_lab_file_selects_and_checks_the_store(tmp_path: Path) -> None:
    with pytest.raises(LabConfigError, match=r"leases\.url"):
        parse_lab(lab_text(leases={"store": "backend"}))
    with pytest.raises(LabConfigError, match=r"leases\.store"):
        parse_lab(lab_text(leases={"store": "redis"}))
    with pytest.raises(LabConfigError, match="min_healthy_boards"):
        parse_lab(lab_text(release_gate={"min_healthy_boards": 4}))
    with pytest.raises(LabConfigError, match="pi-09"):
        parse_lab(lab_text(health={"boards": ["pi-09"]}))
    lab = parse_lab(lab_text(leases={"store": "backend", "url": "http://127.0.0.1:9/"}))
    backend_store = open_store(lab, directory=tmp_path, run_id="r", ttl=5)
    assert isinstance(backend_store, BackendLeaseStore) and backend_store.admin.url == "http://127.0.0.1:9"
    backend_store.close()
    assert isinstance(open_store(parse_lab(lab_text()), directory=tmp_path, run_id="r", ttl=5), FileLeaseStore)


def test_malina_boards_shows_holder_since_until(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "lab.yaml"
    lab.write_text(lab_text())
    s = FileLeaseStore(tmp_path / "leases", "sim", run_id="r1", ttl=600)
    s.acquire(["pi-02"], "1234:scenarios/test_x.py::test_y")
    s.set_health("pi-03", False, {"message": "no banner"})
    assert boards_cli.main(["--lab", str(lab), "--lease-dir", str(tmp_path / "leases")]) == 0
    out = capsys.readouterr().out.splitlines()
    row = next(line for line in out if line.startswith("pi-02"))
    assert "1234:scenarios/test_x.py::test_y" in row and "(in 600 s)" in row and "s ago)" in row
    assert "free" in next(line for line in out if line.startswith("pi-01"))
    assert "bad" in next(line for line in out if line.startswith("pi-03"))
    assert boards_cli.main(["--lab", str(lab), "--lease-dir", str(tmp_path / "leases"), "--json"]) == 0
    assert '"owner": "1234:scenarios/test_x.py::test_y"' in capsys.readouterr().out
