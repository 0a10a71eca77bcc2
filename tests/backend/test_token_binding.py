"""Issue 13.2: an install token works only for its board, from its switch port's subnet, with the MAC and serial
the agent reads from the board. Every refusal is a 403 and a history event, and nothing else moves: the attempt's
state, the machine's mode, flag and identity stay as they were. A machine defined without a serial installs."""

from __future__ import annotations

from typing import Any

import pytest
from backend_helpers import READ, auth, board_client, board_identity, machine, port_query
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.app import create_app
from backend.service import Service

OPTIONS = "/v1/dhcp/options"
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def token_of(client: TestClient, n: int = 1) -> str:
    answer = client.get(OPTIONS, params=port_query(n)).json()
    return str(answer["224"]).rsplit("/", 1)[1]


def snapshot(client: TestClient, name: str = "pi-01") -> dict[str, Any]:
    m = client.get(f"/v1/admin/machines/{name}", headers=auth()).json()
    return {key: m[key] for key in ("boot_mode", "flagged", "mac", "serial", "attempts")} | {
        "state": m["last_attempt"]["state"] if m["last_attempt"] else None}


def refusals(client: TestClient, name: str = "pi-01") -> list[str]:
    events = client.get(f"/v1/admin/machines/{name}/history", headers=auth()).json()["events"]
    return [event["message"] for event in events if event["kind"] == "refused"]


def refused(r: Any) -> bool:
    return r.status_code == 403 and "does not belong to this board" in r.json()["detail"]


@pytest.fixture
def installing(client: TestClient) -> str:
    """pi-01 (port 1, subnet 10.90.1.0/24) in install, its scenario fetched by its own board: writing."""
    assert client.post("/v1/admin/machines", json=machine(), headers=auth()).status_code == 201
    token = token_of(client)
    assert client.post(f"/v1/install/{token}").status_code == 200
    body = {"phase": "writing", "bytes_written": 0, "bytes_total": 4096, "rate_bps": 1.0}
    assert client.post(f"/v1/install/{token}/progress", json=body).status_code == 200
    return token


CALLS = [("post", "", None), ("get", "/netplan", None),
         ("post", "/progress", {"phase": "verifying", "bytes_written": 4096, "bytes_total": 4096, "rate_bps": 1.0}),
         ("post", "/result", {"status": "failure", "error": "forged"}), ("post", "/booted", None)]


def every_call(client: TestClient, token: str, **params: str) -> list[Any]:
    out = []
    for method, path, body in CALLS:
        kwargs: dict[str, Any] = {"params": params}
        if body is not None:
            kwargs["json"] = body
        out.append(getattr(client, method)(f"/v1/install/{token}{path}", **kwargs))
    return out


@SQLITE
def test_wrong_subnet_is_refused(installing: str, client: TestClient, service: Service) -> None:
    before = snapshot(client)
    with TestClient(create_app(service.settings, service), client=("10.90.7.23", 4000)) as elsewhere:
        answers = every_call(elsewhere, installing, **board_identity(1))
    assert all(refused(r) for r in answers), [r.text for r in answers]
    assert snapshot(client) == before
    assert len(refusals(client)) == len(CALLS)
    assert all("from 10.90.7.23, outside the subnet 10.90.1.0/24" in message for message in refusals(client))


@SQLITE
def test_wrong_mac_is_refused(installing: str, client: TestClient) -> None:
    before = snapshot(client)
    answers = every_call(client, installing, serial=board_identity(1)["serial"], mac="dc:a6:32:00:00:99")
    assert all(refused(r) for r in answers)
    assert snapshot(client) == before
    assert all("reports MAC dc:a6:32:00:00:99, but pi-01's MAC is dc:a6:32:00:00:01" in message
               for message in refusals(client))
    # the caller learns nothing of the machine: its MAC is only in the history
    assert "dc:a6:32:00:00:01" not in answers[0].text


@SQLITE
def test_wrong_serial_is_refused(installing: str, client: TestClient) -> None:
    before = snapshot(client)
    answers = every_call(client, installing, serial="deadbeef", mac=board_identity(1)["mac"])
    assert all(refused(r) for r in answers)
    assert snapshot(client) == before
    assert all("reports serial deadbeef, but pi-01's serial is 6e87a401" in message for message in refusals(client))


@SQLITE
def test_missing_identity_is_refused(installing: str, client: TestClient) -> None:
    before = snapshot(client)
    r = client.post(f"/v1/install/{installing}/progress", params={"serial": board_identity(1)["serial"]},
                    json={"phase": "verifying", "bytes_written": 1, "bytes_total": 4096, "rate_bps": 1.0})
    assert refused(r) and snapshot(client) == before
    assert "the agent sent no MAC" in refusals(client)[0]


def test_a_token_of_board_a_used_by_board_b(installing: str, client: TestClient, service: Service) -> None:
    """pi-02's board, on its own port, holds pi-01's token (read off the wire, say): refused for both reasons,
    on PostgreSQL too; pi-02 is not touched either."""
    assert client.post("/v1/admin/machines", json=machine("pi-02", 2, boot_mode="local"),
                       headers=auth()).status_code == 201
    before_a, before_b = snapshot(client), client.get("/v1/admin/machines/pi-02", headers=auth()).json()
    with board_client(create_app(service.settings, service), 2) as board_b:
        answers = every_call(board_b, installing)
    assert all(refused(r) for r in answers)
    assert snapshot(client) == before_a
    assert client.get("/v1/admin/machines/pi-02", headers=auth()).json() == before_b
    message = refusals(client)[0]
    assert "outside the subnet 10.90.1.0/24" in message and "the agent reports the identity of pi-02" in message
    # and its own board still installs with it
    assert client.post(f"/v1/install/{installing}/result", json={"status": "success", "sha256": "ab" * 32,
                                                                 "bytes_written": 4096}).status_code == 200
    assert snapshot(client)["state"] == "configured"


@SQLITE
def test_a_machine_without_a_serial_installs(client: TestClient) -> None:
    """Its token is bound to the port and the MAC; the serial its board reports first is recorded and then
    holds (before: the scenario's serial was null, and the agent refused it)."""
    assert client.post("/v1/admin/machines", json=machine(serial=None), headers=auth()).status_code == 201
    token = token_of(client)
    scenario = client.post(f"/v1/install/{token}")
    assert scenario.status_code == 200 and scenario.json()["serial"] == board_identity(1)["serial"]
    assert snapshot(client)["serial"] == board_identity(1)["serial"]
    other = client.post(f"/v1/install/{token}/progress", params={**board_identity(1), "serial": "0badcafe"},
                        json={"phase": "writing", "bytes_written": 1, "bytes_total": 4096, "rate_bps": 1.0})
    assert refused(other)
    for body, path in (({"phase": "writing", "bytes_written": 1, "bytes_total": 4096, "rate_bps": 1.0}, "progress"),
                       ({"status": "success", "sha256": "ab" * 32, "bytes_written": 4096}, "result")):
        assert client.post(f"/v1/install/{token}/{path}", json=body).status_code == 200
    assert client.post(f"/v1/install/{token}/booted").status_code == 200
    assert snapshot(client)["state"] == "booted-ok"


@SQLITE
def test_a_port_without_a_subnet(installing: str, client: TestClient, service: Service) -> None:
    """A machine whose port has no subnet (one defined before migration 0004 without a scenario, say): its
    agent calls are refused with the reason in its history, and reinstall says what is missing."""
    with service.db.engine.begin() as conn:
        conn.execute(text("UPDATE machines SET subnet = NULL"))
    before = snapshot(client)
    assert refused(client.post(f"/v1/install/{installing}"))
    assert "the switch port of pi-01 has no subnet" in refusals(client)[0]
    assert snapshot(client) == before
    r = client.post("/v1/admin/machines/pi-01/reinstall", headers=auth())
    assert r.status_code == 409 and "switch port has no subnet" in r.json()["detail"]
    # a definition gives it: the network of the installed OS's address by default, or the one given
    assert client.put("/v1/admin/machines/pi-01", json=machine(), headers=auth()).json()["subnet"] == "10.90.1.0/24"
    explicit = client.put("/v1/admin/machines/pi-01", json=machine(subnet="10.90.0.0/16"), headers=auth()).json()
    assert explicit["subnet"] == "10.90.0.0/16"


@SQLITE
def test_the_scenario_is_a_post(installing: str, client: TestClient) -> None:
    """It changes state (pending → netbooting, identity recorded): a GET is not allowed."""
    assert client.get(f"/v1/install/{installing}").status_code == 405


# The one GET that changes state: the hook's question, whose URL form the project fixes (a GET with a query);
# backend.routes.hookauth.authenticate_hook runs before it reads or writes anything.
STATEFUL_GET = {"/v1/dhcp/options"}


def _dump(service: Service) -> dict[str, list[tuple[Any, ...]]]:
    with service.db.engine.connect() as conn:
        return {table: [tuple(row) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
                for table in ("machines", "attempts", "events", "board_leases")}


@SQLITE
def test_no_get_route_changes_state_but_the_hooks(installing: str, client: TestClient, service: Service) -> None:
    """Every GET route of the app, called with whatever it needs (the live token, the machine's name, the
    read token): the database is the same afterwards. Before, the scenario was a GET and moved the attempt."""
    fill = {"token": installing, "name": "pi-01", "lab": "lab", "board": "b1"}
    query = {"/v1/tftp/gate": {"serial": "6e87a401"}}
    routes = [route for route in client.app.routes  # type: ignore[attr-defined]
              if "GET" in getattr(route, "methods", ()) and route.path not in STATEFUL_GET]
    assert {"/v1/install/{token}/netplan", "/v1/admin/machines", "/v1/tftp/gate", "/metrics"} <= \
        {route.path for route in routes}
    before = _dump(service)
    for route in routes:
        path = route.path.format(**{key: fill[key] for key in fill if "{" + key + "}" in route.path})
        r = client.get(path, params=query.get(route.path, {}), headers=auth(READ))
        assert r.status_code < 500, (path, r.status_code)
    assert _dump(service) == before
