"""The admin API on SQLite and PostgreSQL: read/write tokens, add, redefine, import, list, history, and the
best-effort Kea cache flush."""

from __future__ import annotations

from typing import Any

import pytest
from backend_helpers import READ, WRITE, KeaStub, auth, machine, port_query
from fastapi.testclient import TestClient

from backend import migrate
from backend.app import create_app
from backend.schemas import MachineIn
from backend.service import Service

MACHINES = "/v1/admin/machines"


def test_tokens(client: TestClient) -> None:
    assert client.get(MACHINES).status_code == 401
    assert client.get(MACHINES, headers=auth("wrong-token")).status_code == 401
    assert client.get(MACHINES, headers={"Authorization": "Basic eDp5"}).status_code == 401
    assert client.get(MACHINES, headers=auth(READ)).status_code == 200
    assert client.get(MACHINES, headers=auth(WRITE)).status_code == 200
    r = client.post(MACHINES, json=machine(), headers=auth(READ))
    assert r.status_code == 403 and "write token" in r.json()["detail"]
    assert client.post(MACHINES, json=machine()).status_code == 401
    assert client.post("/v1/admin/machines/pi-01/reinstall", headers=auth(READ)).status_code == 403
    assert client.get(MACHINES, headers=auth(READ)).json() == {"machines": []}


def test_admin_disabled_without_tokens(service: Service) -> None:
    settings = service.settings.with_(read_token=None, write_token=None)
    with TestClient(create_app(settings, service)) as c:
        r = c.get(MACHINES, headers=auth(READ))
        assert r.status_code == 401 and "disabled" in r.json()["detail"]


def test_add_list_get(client: TestClient) -> None:
    r = client.post(MACHINES, json=machine(), headers=auth())
    assert r.status_code == 201
    out = r.json()
    assert out["name"] == "pi-01" and out["boot_mode"] == "install" and out["last_attempt"] is None
    assert out["install"]["image"]["compression"] == "xz"
    client.post(MACHINES, json=machine("pi-02", 2, boot_mode="local"), headers=auth())
    listed = client.get(MACHINES, headers=auth(READ)).json()["machines"]
    assert [(m["name"], m["boot_mode"]) for m in listed] == [("pi-01", "install"), ("pi-02", "local")]
    assert client.get("/v1/admin/machines/pi-02", headers=auth(READ)).json()["mac"] == "dc:a6:32:00:00:02"
    assert client.get("/v1/admin/machines/pi-09", headers=auth(READ)).status_code == 404


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"name": "pi-01"}, "exists"),
        (
            {"name": "other", "mac": "dc:a6:32:00:00:09", "serial": "00000009"},
            "port already belongs to pi-01",
        ),
        ({"name": "other", "sub82_1": "ff"}, "MAC dc:a6:32:00:00:01 already belongs to pi-01"),
        ({"name": "other", "sub82_1": "ff", "mac": None}, "serial 6e87a401 already belongs to pi-01"),
    ],
)
def test_conflicts_are_409(client: TestClient, over: dict[str, Any], needle: str) -> None:
    client.post(MACHINES, json=machine(), headers=auth())
    r = client.post(MACHINES, json={**machine(), **over}, headers=auth())
    assert r.status_code == 409 and needle in r.json()["detail"], r.text
    assert len(client.get(MACHINES, headers=auth()).json()["machines"]) == 1


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"name": "Bad_Name"}, "name"),
        ({"sub82_1": "", "sub82_2": ""}, "switch port"),
        ({"sub82_1": "zz"}, "hex"),
        ({"mac": "01:02"}, "MAC"),
        ({"install": None}, "install scenario"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_invalid_machines_are_422(client: TestClient, over: dict[str, Any], needle: str) -> None:
    r = client.post(MACHINES, json={**machine(), **over}, headers=auth())
    assert r.status_code == 422
    assert needle in r.text
    assert client.get(MACHINES, headers=auth()).json() == {"machines": []}


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (("image", "url"), "ftp://x/y", "http(s) URL"),
        (("image", "size"), 0, "greater than 0"),
        (("network", "address"), "10.90.1.50/32", "host address"),
        (("network", "gateway"), "10.99.1.1", "is not in"),
        (("ssh_authorized_keys",), ["not a key"], "SSH public key"),
        (("hostname",), "-bad-", "hostname"),
    ],
)
def test_invalid_install_scenarios_are_422(
    client: TestClient, path: tuple[str, ...], value: Any, needle: str
) -> None:
    body = machine()
    node = body["install"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    r = client.post(MACHINES, json=body, headers=auth())
    assert r.status_code == 422 and needle in r.text, r.text


def test_put_creates_then_redefines_and_cancels_a_running_install(client: TestClient, kea: KeaStub) -> None:
    assert client.put("/v1/admin/machines/pi-01", json=machine(), headers=auth()).status_code == 201
    answer = client.get("/v1/dhcp/options", params=port_query(1)).json()
    token = answer["224"].rsplit("/", 1)[1]
    # same definition: nothing changes, the install goes on
    assert client.put("/v1/admin/machines/pi-01", json=machine(), headers=auth()).status_code == 200
    assert client.post(f"/v1/install/{token}").status_code == 200
    changed = machine()
    changed["install"]["hostname"] = "renamed"
    r = client.put("/v1/admin/machines/pi-01", json=changed, headers=auth())
    assert r.status_code == 200 and r.json()["install"]["hostname"] == "renamed"
    assert client.post(f"/v1/install/{token}").status_code == 410
    assert kea.wait(1)
    r = client.put("/v1/admin/machines/pi-02", json=machine(), headers=auth())
    assert r.status_code == 422 and "path names" in r.text


def test_import_is_all_or_nothing(client: TestClient) -> None:
    batch = [machine("pi-01", 1), machine("pi-02", 2)]
    r = client.post("/v1/admin/import", json={"machines": batch}, headers=auth())
    assert r.status_code == 200 and r.json() == {"created": ["pi-01", "pi-02"], "updated": []}
    again = [machine("pi-01", 1), machine("pi-02", 2, boot_mode="local"), machine("pi-03", 3)]
    r = client.post("/v1/admin/import", json={"machines": again}, headers=auth())
    assert r.json() == {"created": ["pi-03"], "updated": ["pi-02"]}
    # pi-05 collides with pi-01's port: nothing of this batch is written
    bad = [machine("pi-04", 4), {**machine("pi-05", 5), "sub82_1": machine()["sub82_1"]}]
    r = client.post("/v1/admin/import", json={"machines": bad}, headers=auth())
    assert r.status_code == 409 and "pi-01" in r.json()["detail"]
    names = [m["name"] for m in client.get(MACHINES, headers=auth()).json()["machines"]]
    assert names == ["pi-01", "pi-02", "pi-03"]
    r = client.post("/v1/admin/import", json={"machines": [machine(), machine()]}, headers=auth())
    assert r.status_code == 409 and "more than once" in r.json()["detail"]


def test_reinstall_and_set_local_flush_kea(client: TestClient, kea: KeaStub) -> None:
    client.post(MACHINES, json=machine(sub82_9="0a0b"), headers=auth())
    r = client.post("/v1/admin/machines/pi-01/set-local", headers=auth())
    assert r.status_code == 200
    assert r.json()["kea_flush"] == "ok" and r.json()["machine"]["boot_mode"] == "local"
    r = client.post("/v1/admin/machines/pi-01/reinstall", headers=auth())
    assert r.json()["kea_flush"] == "ok" and r.json()["machine"]["boot_mode"] == "install"
    cmds = kea.wait(2)
    q = port_query(1)
    assert (
        cmds
        == [
            {
                "command": "remote-options-cache-flush",
                "service": ["dhcp4"],
                "arguments": {"sub82_1": q["sub82_1"], "sub82_2": q["sub82_2"], "sub82_9": "0a0b"},
            }
        ]
        * 2
    )
    events = client.get("/v1/admin/machines/pi-01/history", headers=auth(READ)).json()["events"]
    assert [e["kind"] for e in events] == ["added", "set-local", "reinstall"]
    assert (
        client.get("/v1/admin/machines/pi-01/history", params={"limit": 1}, headers=auth()).json()["events"][
            0
        ]["kind"]
        == "reinstall"
    )
    assert client.post("/v1/admin/machines/nope/reinstall", headers=auth()).status_code == 404


def test_kea_failure_never_fails_the_request(service: Service) -> None:
    service.add(MachineIn.model_validate(machine()))
    for stub_kw, needle in (
        ({"status": 500}, "HTTP 500"),
        ({"answer": [{"result": 1, "text": "bad"}]}, "bad"),
    ):
        stub = KeaStub(**stub_kw)  # type: ignore[arg-type]
        try:
            svc = Service(service.db, service.settings.with_(kea_control_url=stub.url), clock=service.clock)
            with TestClient(create_app(svc.settings, svc)) as c:
                r = c.post("/v1/admin/machines/pi-01/set-local", headers=auth())
                assert r.status_code == 200 and needle in r.json()["kea_flush"]
                assert r.json()["machine"]["boot_mode"] == "local"
            svc.reader.close()
        finally:
            stub.close()
    dead = Service(
        service.db, service.settings.with_(kea_control_url="http://127.0.0.1:9/", kea_timeout_s=0.5)
    )
    with TestClient(create_app(dead.settings, dead)) as c:
        r = c.post("/v1/admin/machines/pi-01/reinstall", headers=auth())
        assert r.status_code == 200 and r.json()["kea_flush"].startswith("failed")
        assert r.json()["machine"]["boot_mode"] == "install"
    dead.reader.close()


def test_reinstall_without_scenario_is_409(client: TestClient) -> None:
    body = machine(boot_mode="local")
    body["install"] = None
    assert client.post(MACHINES, json=body, headers=auth()).status_code == 201
    r = client.post("/v1/admin/machines/pi-01/reinstall", headers=auth())
    assert r.status_code == 409 and "no install scenario" in r.json()["detail"]


def test_health(client: TestClient, service: Service) -> None:
    r = client.get("/v1/health")
    assert r.status_code == 200
    assert r.json() == {"ok": True, "database": service.db.backend, "schema_revision": migrate.head()}
