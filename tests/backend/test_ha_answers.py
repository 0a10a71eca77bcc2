"""A Kea HA pair in front of the backend (docs/KEA-HA.md): within one install attempt the backend answers
whichever server asks the same (same options, same token), never starting or burning an attempt because a
second server asked; and every cache flush reaches both servers' hooks."""

from __future__ import annotations

import threading
from typing import Any

from backend_helpers import SHA, KeaStub, auth, guid_for, machine, port_query
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.service import Service

OPTIONS = "/v1/dhcp/options"
MAC = "dc:a6:32:00:00:01"


def bootloader_ask(client: TestClient) -> dict[str, Any]:
    """What the hook of either server sends for the Pi's EEPROM bootloader (chaddr and option 97)."""
    params = port_query(1, mac=MAC.replace(":", ""), guid=guid_for(MAC, "6e87a401"))
    r = client.get(OPTIONS, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def installer_ask(client: TestClient) -> dict[str, Any]:
    """The installer's own DHCP client (udhcpc): the chaddr, no option 97."""
    r = client.get(OPTIONS, params=port_query(1, mac=MAC.replace(":", "")))
    assert r.status_code == 200, r.text
    return dict(r.json())


def attempts(client: TestClient) -> list[str]:
    history = client.get("/v1/admin/machines/pi-01/history", headers=auth()).json()["events"]
    return [e["message"] for e in history if e["kind"] == "attempt"]


def test_either_server_gets_the_same_install_answer_through_one_attempt(client: TestClient) -> None:
    assert client.post("/v1/admin/machines", json=machine(), headers=auth()).status_code == 201
    first = bootloader_ask(client)  # the primary, the bootloader's DORA
    assert first["66"] == "10.89.0.4" and "224" in first
    token = first["224"].rsplit("/", 1)[1]
    assert client.post(f"/v1/install/{token}").status_code == 200  # the installer fetched its scenario
    # the primary dies; the standby answers the same board's next DHCP exchanges in the same attempt
    assert installer_ask(client) == first
    assert bootloader_ask(client) == first
    r = client.post(f"/v1/install/{token}/progress",
                    json={"phase": "writing", "bytes_written": 1024, "bytes_total": 4096, "rate_bps": 1e6})
    assert r.status_code == 200, r.text
    assert installer_ask(client) == first  # mid-write: still the same attempt and token
    m = client.get("/v1/admin/machines/pi-01", headers=auth()).json()
    assert m["attempts"] == 1 and m["last_attempt"]["number"] == 1 and m["last_attempt"]["state"] == "writing", m
    r = client.post(f"/v1/install/{token}/result", json={"status": "success", "sha256": SHA, "bytes_written": 4096})
    assert r.status_code == 200, r.text
    # configured: both servers now hand out boot-local, and nothing new starts
    assert bootloader_ask(client) == {"66": "0.0.0.0"} == installer_ask(client)
    assert client.post(f"/v1/install/{token}/booted").status_code == 200
    m = client.get("/v1/admin/machines/pi-01", headers=auth()).json()
    assert m["attempts"] == 1 and m["last_attempt"]["state"] == "booted-ok", m
    assert attempts(client) == ["attempt 1 started: install token issued"]


def test_both_servers_asking_at_once_share_one_attempt(client: TestClient) -> None:
    """Right after a failover both hooks may ask at the same moment (the relay sends every request to both)."""
    assert client.post("/v1/admin/machines", json=machine(), headers=auth()).status_code == 201
    barrier = threading.Barrier(2)
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def ask(how: Any) -> None:
        try:
            barrier.wait()
            answers.append(how(client))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(how,)) for how in (bootloader_ask, installer_ask)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(answers) == 2
    assert answers[0] == answers[1] and "224" in answers[0], answers
    assert attempts(client) == ["attempt 1 started: install token issued"]


def test_every_flush_reaches_both_servers(service: Service, kea: KeaStub) -> None:
    standby = KeaStub()
    try:
        svc = Service(service.db, service.settings.with_(kea_standby_control_url=standby.url), clock=service.clock)
        with TestClient(create_app(svc.settings, svc)) as c:
            assert c.post("/v1/admin/machines", json=machine(), headers=auth()).status_code == 201
            r = c.post("/v1/admin/machines/pi-01/set-local", headers=auth())
            assert r.status_code == 200 and r.json()["kea_flush"] == "ok", r.text
        svc.reader.close()
        flush = {"command": "remote-options-cache-flush", "service": ["dhcp4"],
                 "arguments": {"sub82_1": port_query(1)["sub82_1"], "sub82_2": port_query(1)["sub82_2"]}}
        assert kea.wait(1)[-1] == flush
        assert standby.wait(1) == [flush]
    finally:
        standby.close()


def test_a_dead_primary_does_not_keep_the_flush_from_the_standby(service: Service) -> None:
    standby = KeaStub()
    try:
        settings = service.settings.with_(kea_control_url="http://127.0.0.1:9/", kea_timeout_s=0.5,
                                          kea_standby_control_url=standby.url)
        svc = Service(service.db, settings, clock=service.clock)
        with TestClient(create_app(svc.settings, svc)) as c:
            assert c.post("/v1/admin/machines", json=machine(), headers=auth()).status_code == 201
            r = c.post("/v1/admin/machines/pi-01/set-local", headers=auth())
            outcome = r.json()["kea_flush"]
            assert r.status_code == 200 and outcome.startswith("failed: http://127.0.0.1:9"), outcome
            assert standby.url not in outcome, outcome  # the standby's flush went through
        svc.reader.close()
        assert len(standby.wait(1)) == 1
    finally:
        standby.close()
