"""The installer agent's API by token, on SQLite and PostgreSQL: scenario, netplan, progress, result, booted,
the attempt cap, and illegal transitions rejected with 409."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from backend_helpers import SHA, KeaStub, auth, machine, port_query
from fastapi.testclient import TestClient

from backend.service import Service

OPTIONS = "/v1/dhcp/options"
PUBLIC = "http://10.89.0.3:8080"


def setup_machine(client: TestClient, **kw: Any) -> str:
    r = client.post("/v1/admin/machines", json=machine(**kw), headers=auth())
    assert r.status_code == 201, r.text
    return new_token(client)


def new_token(client: TestClient, n: int = 1) -> str:
    answer = client.get(OPTIONS, params=port_query(n)).json()
    assert "224" in answer, answer
    return str(answer["224"]).rsplit("/", 1)[1]


def get_machine(client: TestClient, name: str = "pi-01") -> dict[str, Any]:
    r = client.get(f"/v1/admin/machines/{name}", headers=auth())
    assert r.status_code == 200
    return dict(r.json())


def progress(client: TestClient, token: str, phase: str, written: int = 0) -> Any:
    return client.post(
        f"/v1/install/{token}/progress",
        json={"phase": phase, "bytes_written": written, "bytes_total": 4096, "rate_bps": 1e6},
    )


def result(client: TestClient, token: str, status: str = "success", sha: str = SHA, **kw: Any) -> Any:
    return client.post(f"/v1/install/{token}/result", json={"status": status, "sha256": sha, **kw})


def test_scenario_matches_the_contract(client: TestClient) -> None:
    token = setup_machine(client)
    r = client.post(f"/v1/install/{token}")
    assert r.status_code == 200, r.text
    s = r.json()
    base = f"{PUBLIC}/v1/install/{token}"
    assert s == {
        "machine": "pi-01",
        "attempt": 1,
        "serial": "6e87a401",
        "mac": "dc:a6:32:00:00:01",
        "image": {
            "url": "http://10.89.0.5:8081/ubuntu.img.xz",
            "sha256": SHA,
            "size": 4096,
            "compression": "xz",
            "bmap_url": None,
        },
        "hostname": "pi-01",
        "ssh_authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5 ops@malina"],
        "network": {
            "interface": "eth0",
            "address": "10.90.1.50/24",
            "gateway": "10.90.1.1",
            "dns": ["10.89.0.3"],
        },
        "netplan_url": f"{base}/netplan",
        "progress_url": f"{base}/progress",
        "result_url": f"{base}/result",
        "booted_url": f"{base}/booted",
    }
    assert get_machine(client)["last_attempt"]["state"] == "netbooting"


def test_netplan(client: TestClient) -> None:
    token = setup_machine(client)
    r = client.get(f"/v1/install/{token}/netplan")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/yaml")
    doc = yaml.safe_load(r.text)
    eth = doc["network"]["ethernets"]["eth0"]
    assert doc["network"]["version"] == 2
    assert eth["addresses"] == ["10.90.1.50/24"]
    assert eth["routes"] == [{"to": "default", "via": "10.90.1.1"}]
    assert eth["nameservers"] == {"addresses": ["10.89.0.3"]}
    assert eth["dhcp4"] is False


def test_full_install_flow(client: TestClient, kea: KeaStub) -> None:
    token = setup_machine(client)
    assert (
        client.post(
            f"/v1/install/{token}", params={"serial": "100000006e87a401", "mac": "DCA632000001"}
        ).status_code
        == 200
    )
    for phase, written in (("netbooting", 0), ("writing", 1024), ("writing", 4096), ("verifying", 4096)):
        r = progress(client, token, phase, written)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == phase
    m = get_machine(client)
    assert m["boot_mode"] == "install"
    assert m["last_attempt"]["bytes_written"] == 4096 and m["last_attempt"]["rate_bps"] == 1e6
    r = result(client, token, bytes_written=4096)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "machine": "pi-01",
        "attempt": 1,
        "state": "configured",
        "boot_mode": "local",
        "error": None,
    }
    assert get_machine(client)["boot_mode"] == "local"
    assert client.get(OPTIONS, params=port_query(1)).json() == {"66": "0.0.0.0"}
    # the token now only serves the first-boot callback, once
    assert client.post(f"/v1/install/{token}").status_code == 410
    assert progress(client, token, "configured").status_code == 409
    r = client.post(f"/v1/install/{token}/booted")
    assert r.status_code == 200 and r.json()["state"] == "booted-ok"
    assert client.post(f"/v1/install/{token}/booted").status_code == 410
    assert get_machine(client)["last_attempt"]["state"] == "booted-ok"
    kinds = [
        e["kind"] for e in client.get("/v1/admin/machines/pi-01/history", headers=auth()).json()["events"]
    ]
    assert kinds == ["added", "attempt", "state", "state", "state", "state", "installed", "state"]
    assert kea.wait(1) and kea.commands[0]["command"] == "remote-options-cache-flush"


def test_result_after_configured_progress(client: TestClient) -> None:
    token = setup_machine(client)
    for phase in ("writing", "verifying", "configured"):
        assert progress(client, token, phase).status_code == 200
    r = result(client, token)
    assert r.status_code == 200 and r.json()["state"] == "configured" and r.json()["boot_mode"] == "local"


@pytest.mark.parametrize(
    ("path", "to"),
    [
        (["writing", "netbooting"], "netbooting"),
        (["verifying", "writing"], "writing"),
        (["writing", "configured"], "configured"),
    ],
)
def test_illegal_progress_is_409(client: TestClient, path: list[str], to: str) -> None:
    token = setup_machine(client)
    for phase in path[:-1]:
        assert progress(client, token, phase).status_code == 200
    r = progress(client, token, path[-1])
    assert r.status_code == 409
    assert "illegal transition" in r.json()["detail"]
    assert get_machine(client)["last_attempt"]["state"] == path[-2]  # unchanged


def test_scenario_fetched_again_mid_write_restarts_the_attempt(client: TestClient) -> None:
    """A power cut mid-write: the board netboots again with the same token; its fresh installer's progress
    (netbooting, then writing from 0) is accepted, and the restart is in the machine's history."""
    token = setup_machine(client)
    assert client.post(f"/v1/install/{token}").status_code == 200
    assert progress(client, token, "writing", 2048).status_code == 200
    assert progress(client, token, "netbooting").status_code == 409  # the same installer may not go back
    assert client.post(f"/v1/install/{token}").status_code == 200  # ... but a new one starts over
    m = get_machine(client)
    assert m["last_attempt"]["state"] == "netbooting" and m["attempts"] == 1
    assert progress(client, token, "netbooting").status_code == 200
    assert progress(client, token, "writing", 1024).status_code == 200
    assert result(client, token).status_code == 200
    assert get_machine(client)["boot_mode"] == "local"
    events = client.get("/v1/admin/machines/pi-01/history", headers=auth()).json()["events"]
    assert any("started again" in e["message"] for e in events), events


def test_success_before_writing_and_booted_before_configured_are_409(client: TestClient) -> None:
    token = setup_machine(client)
    assert result(client, token).status_code == 409
    assert client.post(f"/v1/install/{token}/booted").status_code == 409
    assert get_machine(client)["boot_mode"] == "install"


def test_wrong_sha256_fails_the_attempt(client: TestClient) -> None:
    token = setup_machine(client)
    progress(client, token, "verifying")
    r = result(client, token, sha="cd" * 32)
    assert r.status_code == 200
    assert r.json()["state"] == "failed" and "verification failed" in r.json()["error"]
    m = get_machine(client)
    assert m["boot_mode"] == "install" and not m["flagged"]
    assert "sha256" in m["last_attempt"]["error"]


def test_wrong_size_fails_the_attempt(client: TestClient) -> None:
    token = setup_machine(client)
    progress(client, token, "verifying")
    r = result(client, token, bytes_written=100)
    assert r.json()["state"] == "failed" and "100 bytes" in r.json()["error"]


def test_failure_keeps_install_and_next_ask_gets_a_new_token(client: TestClient) -> None:
    token = setup_machine(client)
    progress(client, token, "writing")
    r = result(client, token, "failure", sha=None, error="write error on /dev/mmcblk0")  # type: ignore[arg-type]
    assert r.status_code == 200 and r.json()["state"] == "failed"
    m = get_machine(client)
    assert m["boot_mode"] == "install"
    assert m["last_attempt"]["error"] == "write error on /dev/mmcblk0"
    assert client.post(f"/v1/install/{token}").status_code == 410
    token2 = new_token(client)
    assert token2 != token
    assert get_machine(client)["last_attempt"]["number"] == 2


def test_attempt_cap_goes_local_and_flags(client: TestClient, service: Service) -> None:
    token = setup_machine(client)
    for i in range(service.settings.max_attempts):
        r = result(client, token, "failure", sha=None, error=f"boom {i}")  # type: ignore[arg-type]
        assert r.status_code == 200
        if i < service.settings.max_attempts - 1:
            token = new_token(client)
    m = get_machine(client)
    assert m["boot_mode"] == "local" and m["flagged"]
    assert "install attempts failed" in m["flag_reason"] and "boom 2" in m["flag_reason"]
    assert client.get(OPTIONS, params=port_query(1)).json() == {"66": "0.0.0.0"}
    # reinstall clears the flag and the count
    r = client.post("/v1/admin/machines/pi-01/reinstall", headers=auth())
    assert r.status_code == 200
    assert not r.json()["machine"]["flagged"] and r.json()["machine"]["attempts"] == 0
    assert "224" in client.get(OPTIONS, params=port_query(1)).json()


def test_serial_and_mac_recorded_from_the_installer(client: TestClient) -> None:
    token = setup_machine(client, serial=None, mac=None)
    r = client.post(f"/v1/install/{token}", params={"serial": "6e87a499", "mac": "dc:a6:32:00:00:09"})
    assert r.status_code == 200 and r.json()["serial"] == "6e87a499"
    m = get_machine(client)
    assert (m["serial"], m["mac"]) == ("6e87a499", "dc:a6:32:00:00:09")


def test_reinstall_and_set_local_kill_the_token(client: TestClient) -> None:
    token = setup_machine(client)
    assert client.post("/v1/admin/machines/pi-01/reinstall", headers=auth()).status_code == 200
    r = client.post(f"/v1/install/{token}")
    assert r.status_code == 410 and "cancelled by reinstall" in r.json()["detail"]
    token2 = new_token(client)
    assert token2 != token
    assert client.post("/v1/admin/machines/pi-01/set-local", headers=auth()).status_code == 200
    assert progress(client, token2, "writing").status_code == 410
    assert client.get(OPTIONS, params=port_query(1)).json() == {"66": "0.0.0.0"}


def test_unknown_and_malformed_tokens(client: TestClient) -> None:
    setup_machine(client)
    for tok in ("A" * 43, "short", "has space" * 5):
        assert client.post(f"/v1/install/{tok}").status_code == 404
        assert progress(client, tok, "writing").status_code == 404


def test_bad_bodies_are_422_and_change_nothing(client: TestClient) -> None:
    token = setup_machine(client)
    for body in (
        {"phase": "exploding"},
        {"phase": "writing", "bytes_written": -1},
        {"phase": "writing", "x": 1},
        {"phase": "writing", "rate_bps": "fast"},
    ):
        assert client.post(f"/v1/install/{token}/progress", json=body).status_code == 422
    for body in (
        {"status": "success"},
        {"status": "maybe", "sha256": SHA},
        {"status": "success", "sha256": "12"},
    ):
        assert client.post(f"/v1/install/{token}/result", json=body).status_code == 422
    assert (
        client.post(
            f"/v1/install/{token}/progress",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ).status_code
        == 422
    )
    assert get_machine(client)["last_attempt"]["state"] == "pending"


def test_a_failed_attempt_flushes_the_hooks_cache(client: TestClient, kea: KeaStub) -> None:
    """The hook may still cache the dead token for its TTL: the board's next boot must not be handed it."""
    token = setup_machine(client)
    progress(client, token, "writing")
    before = len(kea.commands)
    r = result(client, token, sha="cd" * 32)
    assert r.status_code == 200 and r.json()["state"] == "failed"
    got = kea.wait(before + 1)
    flushes = [c for c in got[before:] if c["command"] == "remote-options-cache-flush"]
    assert len(flushes) == 1, got[before:]
    assert flushes[0]["arguments"]["sub82_1"] == get_machine(client)["sub82_1"]
