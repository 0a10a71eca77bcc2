"""Boot-local methods (issue 19): the options answer and the TFTP gate per method, as a pure decision and end to
end through the API on SQLite and PostgreSQL. Whatever the method, a board that must boot local never gets its
installer: no option 224, and either option 66 = 0.0.0.0 or a TFTP gate that is closed for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backend_helpers import HOOK_AUTH, READ, SHA, FakeClock, KeaStub, auth, board_client, guid_for, machine, port_query
from fastapi.testclient import TestClient

from backend import migrate
from backend.app import create_app
from backend.cli import main
from backend.config import Settings
from backend.db import Database
from backend.decision import (
    DEFAULT_METHOD,
    METHODS,
    NO_TFTP,
    BootLocal,
    Gate,
    MachineFacts,
    OptionsQuery,
    Policy,
    answer,
    closes_gate,
    decide,
    gate,
    zeroes_option66,
)
from backend.identity import port_key
from backend.service import Service
from backend.tftpsync import GATED, Change, sync_once

NOW = 1_000_000.0
TFTP = "10.89.0.4"
PORT1 = ("4769312f302f31", "746f722d612d3031")
GATE_TOKEN = "gate-token-789-0123456789abcdef01234"
OPTIONS = "/v1/dhcp/options"
GATE = "/v1/tftp/gate"
SERIAL = "6e87a401"  # backend_helpers.machine(n=1)


def policy(method: str = DEFAULT_METHOD) -> Policy:
    return Policy(tftp_server=TFTP, max_attempts=3, loop_guard_count=5, loop_guard_window_s=600.0,
                  boot_local_method=method)


def facts(**over: Any) -> MachineFacts:
    values: dict[str, Any] = {
        "id": 1, "name": "pi-01", "port_key": port_key(*PORT1, ""), "mac": "dc:a6:32:00:00:01", "serial": SERIAL,
        "guid_serial": None, "boot_mode": "local", "flagged": False, "mode_changed_at": 0.0, "attempts": 1,
        "state": "booted-ok", "token": None, "expires_at": NOW - 1, "result_status": "success",
        "boot_local_method": None}
    values.update(over)
    return MachineFacts(**values)


def ask(mac: str | None = "dc:a6:32:00:00:01") -> OptionsQuery:
    return OptionsQuery(*PORT1, "", mac, None)


def option66(method: str) -> str:
    return NO_TFTP if zeroes_option66(method) else TFTP


# -- the pure decision ---------------------------------------------------------------------------------------

def test_the_methods_and_what_each_does() -> None:
    assert METHODS == ("opt66-zero", "tftp-deny", "opt66-zero+tftp-deny")
    assert DEFAULT_METHOD == "opt66-zero+tftp-deny"
    assert [(zeroes_option66(m), closes_gate(m)) for m in METHODS] == [(True, False), (False, True), (True, True)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("case", "rows", "verdict"), [
    ("local", [facts()], False),
    ("loop guard tripped", [facts()], True),
    ("flagged", [facts(flagged=True)], None),
    ("attempt cap reached", [facts(boot_mode="install", attempts=3, state="failed", result_status="failure")], None),
    ("expired token at the cap", [facts(boot_mode="install", attempts=3, state="writing", result_status=None,
                                        token="t", expires_at=NOW - 1)], None),
    ("identity mismatch", [facts(boot_mode="install", mac="dc:a6:32:00:00:09")], None),
    ("unknown port", [], None),
])
def test_boot_local_answers_never_install(method: str, case: str, rows: list[MachineFacts],
                                          verdict: bool | None) -> None:
    decision = decide(ask(), rows, NOW, policy(method), verdict)
    assert isinstance(decision, BootLocal), (case, decision)
    got = answer(decision, "http://b")
    assert got == {"66": option66(method)}, (case, got)


@pytest.mark.parametrize("lab_method", METHODS)
@pytest.mark.parametrize("own", METHODS)
def test_the_machines_own_method_wins(lab_method: str, own: str) -> None:
    decision = decide(ask(), [facts(boot_local_method=own)], NOW, policy(lab_method), False)
    assert answer(decision, "http://b") == {"66": option66(own)}  # type: ignore[arg-type]
    assert gate([facts(boot_local_method=own)], NOW, policy(lab_method)).open is not closes_gate(own)


@pytest.mark.parametrize("method", METHODS)
def test_install_answer_and_gate_do_not_depend_on_the_method(method: str) -> None:
    installing = facts(boot_mode="install", state="netbooting", token="tok", expires_at=NOW + 60,
                       result_status=None, boot_local_method=method)
    decision = decide(ask(), [installing], NOW, policy(), None)
    assert answer(decision, "http://b") == {"66": TFTP, "224": "http://b/v1/install/tok"}  # type: ignore[arg-type]
    assert gate([installing], NOW, policy()) == Gate(True, "install", "pi-01", method)


@pytest.mark.parametrize("method", METHODS)
def test_gate_per_state(method: str) -> None:
    p = policy(method)
    assert gate([], NOW, p) == Gate(False, "unknown board")
    assert not gate([facts(), facts(id=2, name="pi-02")], NOW, p).open
    assert gate([facts(flagged=True, boot_mode="install")], NOW, p) == Gate(False, "flagged", "pi-01", method)
    capped = facts(boot_mode="install", attempts=3, state="failed", result_status="failure")
    assert gate([capped], NOW, p) == Gate(False, "attempt cap reached", "pi-01", method)
    fresh = facts(boot_mode="install", attempts=0, state=None, result_status=None)
    assert gate([fresh], NOW, p).open  # the DHCP ask makes the attempt: the gate must not wait for it
    local = gate([facts()], NOW, p)
    assert local.open is (method == "opt66-zero")
    assert local.reason == ("boot local by option 66 alone (opt66-zero)" if local.open else f"boot local ({method})")


# -- through the API -----------------------------------------------------------------------------------------

@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lab_client(settings: Settings, clock: FakeClock, method: str) -> Iterator[TestClient]:
    """The app with the lab's method ``method`` and a TFTP gate token."""
    configured = settings.with_(boot_local_method=method, tftp_gate_token=GATE_TOKEN)
    service = Service(Database(configured.db_url), configured, clock=clock)
    migrate.upgrade(service.db.engine)
    with board_client(create_app(configured, service)) as client:
        client.headers.update(HOOK_AUTH)
        yield client
    service.close()


def gate_of(client: TestClient, token: str = GATE_TOKEN, **params: str) -> dict[str, Any]:
    r = client.get(GATE, params=params or {"serial": SERIAL, "client": "10.90.1.100"}, headers=auth(token))
    assert r.status_code == 200, r.text
    return dict(r.json())


def install(client: TestClient) -> str:
    """pi-01 asks, installs and reports a verified result: it is in local afterwards; its token."""
    first = client.get(OPTIONS, params=port_query(1)).json()
    assert first["66"] == TFTP and "224" in first
    token = str(first["224"].rsplit("/", 1)[1])
    assert client.post(f"/v1/install/{token}").status_code == 200
    for phase in ("writing", "verifying"):
        assert client.post(f"/v1/install/{token}/progress", json={"phase": phase}).status_code == 200
    r = client.post(f"/v1/install/{token}/result", json={"status": "success", "sha256": SHA, "bytes_written": 4096})
    assert r.status_code == 200 and r.json()["boot_mode"] == "local", r.text
    return token


def test_full_cycle_per_lab_method(lab_client: TestClient, method: str, kea: KeaStub) -> None:
    client = lab_client
    assert client.post("/v1/admin/machines", json=machine(), headers=auth()).status_code == 201
    shown = client.get("/v1/admin/machines/pi-01", headers=auth(READ)).json()
    assert (shown["boot_local_method"], shown["boot_local_method_effective"]) == (None, method)
    # install: the gate is open whatever the method
    assert gate_of(client) == {"open": True, "reason": "install", "machine": "pi-01", "method": method}
    install(client)
    # boot local: option 66 and the gate by the method, never 224
    assert client.get(OPTIONS, params=port_query(1)).json() == {"66": option66(method)}
    assert gate_of(client)["open"] is not closes_gate(method)
    # reinstall opens the gate again, set-local closes it (by the method)
    assert client.post("/v1/admin/machines/pi-01/reinstall", headers=auth()).status_code == 200
    assert gate_of(client)["open"] is True
    assert "224" in client.get(OPTIONS, params=port_query(1)).json()
    assert client.post("/v1/admin/machines/pi-01/set-local", headers=auth()).status_code == 200
    assert gate_of(client)["open"] is not closes_gate(method)
    # an unknown board: closed; an unknown port: answered by the lab's method
    assert gate_of(client, serial="0badcafe")["open"] is False
    assert client.get(OPTIONS, params=port_query(9)).json() == {"66": option66(method)}


def test_attempt_cap_and_loop_guard_keep_the_installer_away(lab_client: TestClient, method: str,
                                                             clock: FakeClock) -> None:
    client = lab_client
    assert client.post("/v1/admin/machines", json=machine(), headers=auth()).status_code == 201
    for i in range(3):
        token = client.get(OPTIONS, params=port_query(1)).json()["224"].rsplit("/", 1)[1]
        r = client.post(f"/v1/install/{token}/result", json={"status": "failure", "error": f"boom {i}"})
        assert r.status_code == 200
    m = client.get("/v1/admin/machines/pi-01", headers=auth(READ)).json()
    assert m["boot_mode"] == "local" and m["flagged"]
    assert client.get(OPTIONS, params=port_query(1)).json() == {"66": option66(method)}
    assert gate_of(client) == {"open": False, "reason": "flagged", "machine": "pi-01", "method": method}
    # the loop guard: a local machine that keeps asking is flagged, and stays off the installer
    assert client.post("/v1/admin/machines/pi-01/set-local", headers=auth()).status_code == 200
    for _ in range(5):  # settings.loop_guard_count = 3 in these tests
        assert "224" not in client.get(OPTIONS, params=port_query(1)).json()
        clock.advance(1.0)
    m = client.get("/v1/admin/machines/pi-01", headers=auth(READ)).json()
    assert m["flagged"] and "loop guard" in m["flag_reason"]
    assert gate_of(client)["open"] is False


def test_gate_matches_the_option97_serial_when_no_serial_is_known(lab_client: TestClient) -> None:
    client = lab_client
    body = machine(serial=None)
    assert client.post("/v1/admin/machines", json=body, headers=auth()).status_code == 201
    assert gate_of(client)["open"] is False  # nothing known of the board yet
    guid = guid_for("dc:a6:32:00:00:01", SERIAL, serial_reversed=True)
    assert "224" in client.get(OPTIONS, params=port_query(1, mac="dca632000001", guid=guid)).json()
    assert gate_of(client) == {"open": True, "reason": "install", "machine": "pi-01",
                               "method": client.get("/v1/admin/machines/pi-01", headers=auth(READ)).json()[
                                   "boot_local_method_effective"]}
    assert gate_of(client, mac="DC-A6-32-00-00-01")["open"] is True


def test_gate_auth_and_bad_queries(lab_client: TestClient, settings: Settings) -> None:
    client = lab_client
    assert client.get(GATE, params={"serial": SERIAL}).status_code == 401
    assert client.get(GATE, params={"serial": SERIAL}, headers=auth("wrong-token-000")).status_code == 401
    assert client.get(GATE, params={"serial": SERIAL}, headers=auth(READ)).status_code == 200
    assert client.get(GATE, params={}, headers=auth(GATE_TOKEN)).status_code == 422
    assert client.get(GATE, params={"serial": "xyz"}, headers=auth(GATE_TOKEN)).status_code == 422
    # without any token configured the gate endpoint refuses: the TFTP server then keeps every board closed
    bare = settings.with_(read_token=None, write_token=None, tftp_gate_token=None)
    with TestClient(create_app(bare)) as other:
        r = other.get(GATE, params={"serial": SERIAL}, headers=auth(GATE_TOKEN))
        assert r.status_code == 401 and "TFTP gate is disabled" in r.json()["detail"]


def test_set_method_per_machine(lab_client: TestClient, method: str, kea: KeaStub) -> None:
    client = lab_client
    assert client.post("/v1/admin/machines", json=machine(), headers=auth()).status_code == 201
    install(client)
    before = client.get("/v1/admin/machines/pi-01", headers=auth(READ)).json()
    for own in METHODS:
        r = client.put("/v1/admin/machines/pi-01/boot-local-method", json={"method": own}, headers=auth())
        assert r.status_code == 200, r.text
        m = r.json()["machine"]
        assert (m["boot_local_method"], m["boot_local_method_effective"]) == (own, own)
        assert (m["boot_mode"], m["attempts"], m["flagged"]) == (before["boot_mode"], before["attempts"], False)
        assert client.get(OPTIONS, params=port_query(1)).json() == {"66": option66(own)}
        assert gate_of(client)["open"] is not closes_gate(own)
    r = client.put("/v1/admin/machines/pi-01/boot-local-method", json={"method": None}, headers=auth())
    assert r.json()["machine"]["boot_local_method_effective"] == method
    assert r.json()["kea_flush"] == "ok"  # the hook must not keep answering by the old method
    listed = client.get("/v1/admin/machines", headers=auth(READ)).json()["machines"][0]
    assert listed["boot_local_method"] is None and listed["boot_local_method_effective"] == method
    bad = client.put("/v1/admin/machines/pi-01/boot-local-method", json={"method": "pxe-off"}, headers=auth())
    assert bad.status_code == 422
    assert client.put("/v1/admin/machines/pi-01/boot-local-method", json={"method": None},
                      headers=auth(READ)).status_code == 403
    assert client.put("/v1/admin/machines/nope/boot-local-method", json={"method": None},
                      headers=auth()).status_code == 404
    kinds = [e["kind"] for e in client.get("/v1/admin/machines/pi-01/history", headers=auth(READ)).json()["events"]]
    assert kinds.count("method") == 4


# -- the gate for a TFTP server that cannot ask (tftpd-hpa): trees moved aside -------------------------------

def test_tftp_gate_sync_moves_trees_aside_and_back(tmp_path: Path) -> None:
    root = tmp_path
    (root / ".trees" / "6e87a401-1").mkdir(parents=True)
    (root / ".trees" / "6e87a401-1" / "start4.elf").write_bytes(b"S")
    (root / "6e87a401").symlink_to(".trees/6e87a401-1")  # as the harness stages a tree
    (root / "9ffefdef").mkdir()  # a plain directory, as an operator may keep one
    (root / "config.txt").write_bytes(b"")
    gate = {"6e87a401": False, "9ffefdef": True}

    def ask(serial: str) -> bool:
        return gate[serial]

    assert sync_once(root, ask) == [Change("6e87a401", "closed")]
    assert not (root / "6e87a401").exists() and (root / GATED / "6e87a401").is_symlink()
    assert (root / "9ffefdef").is_dir() and (root / "config.txt").exists()
    assert sync_once(root, ask) == []  # nothing to do twice
    gate["6e87a401"] = True
    assert sync_once(root, ask) == [Change("6e87a401", "opened")]
    assert (root / "6e87a401" / "start4.elf").read_bytes() == b"S"  # the relative link resolves again

    def down(serial: str) -> bool:
        raise OSError("connection refused")

    assert sync_once(root, down) == [Change("6e87a401", "closed"), Change("9ffefdef", "closed")]
    # a tree staged while the gate is closed supersedes the one aside
    (root / "6e87a401").symlink_to(".trees/6e87a401-1")
    assert sync_once(root, down) == [Change("6e87a401", "closed")]
    assert not (root / "6e87a401").exists() and (root / GATED / "6e87a401").is_symlink()


def test_tftp_gate_sync_command_against_the_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``malina backend tftp-gate-sync --once`` asks a running backend (here: an unreachable one → closed)."""
    root = tmp_path
    (root / SERIAL).mkdir()
    assert main(["tftp-gate-sync", "--root", str(root), "--url", "http://127.0.0.1:9", "--token", GATE_TOKEN,
                 "--once"]) == 0
    assert f"{SERIAL}: closed" in capsys.readouterr().out
    assert (root / ".gated" / SERIAL).is_dir()
    assert main(["tftp-gate-sync", "--root", str(root / "nope"), "--url", "http://127.0.0.1:9", "--token",
                 GATE_TOKEN, "--once"]) == 2
