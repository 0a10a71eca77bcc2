"""``GET /v1/dhcp/options`` on SQLite and PostgreSQL: answers, token reuse, identity cross-checks, the loop
guard."""

from __future__ import annotations

from backend_helpers import FakeClock, KeaStub, auth, guid_for, machine, port_query
from fastapi.testclient import TestClient

from backend.service import Service

OPTIONS = "/v1/dhcp/options"


def add(client: TestClient, **kw: object) -> dict[str, object]:
    body = machine(**kw)  # type: ignore[arg-type]
    r = client.post("/v1/admin/machines", json=body, headers=auth())
    assert r.status_code == 201, r.text
    return body


def token_of(answer: dict[str, str]) -> str:
    prefix = "http://10.89.0.3:8080/v1/install/"
    assert answer["224"].startswith(prefix)
    return answer["224"][len(prefix) :]


def history(client: TestClient, name: str = "pi-01") -> list[dict[str, object]]:
    r = client.get(f"/v1/admin/machines/{name}/history", headers=auth())
    assert r.status_code == 200
    return list(r.json()["events"])


def test_unknown_port_boots_local(client: TestClient) -> None:
    r = client.get(OPTIONS, params=port_query(9))
    assert r.status_code == 200
    assert r.json() == {"66": "0.0.0.0"}


def test_install_answer_and_token_reuse(client: TestClient) -> None:
    add(client)
    first = client.get(OPTIONS, params=port_query(1)).json()
    assert first["66"] == "10.89.0.4"
    token = token_of(first)
    assert len(token) >= 22  # >= 128 bits in urlsafe base64
    # DISCOVER, REQUEST, the installer's own DHCP: the same live token every time
    for extra in ({}, {"mac": "dca632000001"}, {"mac": "dc:a6:32:00:00:01"}):
        assert client.get(OPTIONS, params=port_query(1, **extra)).json() == first
    m = client.get("/v1/admin/machines/pi-01", headers=auth()).json()
    assert m["attempts"] == 1
    assert m["last_attempt"]["state"] == "pending"
    assert [e["kind"] for e in history(client)] == ["added", "attempt"]


def test_tokens_differ_between_machines(client: TestClient) -> None:
    add(client)
    add(client, name="pi-02", n=2)
    a = token_of(client.get(OPTIONS, params=port_query(1)).json())
    b = token_of(client.get(OPTIONS, params=port_query(2)).json())
    assert a != b


def test_local_machine_boots_local(client: TestClient) -> None:
    add(client, boot_mode="local")
    assert client.get(OPTIONS, params=port_query(1)).json() == {"66": "0.0.0.0"}


def test_sub82_9_is_part_of_the_port(client: TestClient) -> None:
    add(client, sub82_9="0a0b")
    assert client.get(OPTIONS, params=port_query(1)).json() == {"66": "0.0.0.0"}
    assert "224" in client.get(OPTIONS, params=port_query(1, sub82_9="0A0B")).json()
    assert client.get(OPTIONS, params=port_query(1, sub82_9="0a0c")).json() == {"66": "0.0.0.0"}


def test_machine_without_sub82_9_matches_when_the_switch_sends_one(client: TestClient) -> None:
    add(client)
    assert "224" in client.get(OPTIONS, params=port_query(1, sub82_9="0102")).json()


def test_mac_recorded_once_seen_then_cross_checked(client: TestClient, kea: KeaStub) -> None:
    add(client, mac=None)
    assert "224" in client.get(OPTIONS, params=port_query(1, mac="dca632000001")).json()
    m = client.get("/v1/admin/machines/pi-01", headers=auth()).json()
    assert m["mac"] == "dc:a6:32:00:00:01"
    # another board on that port: flagged, boot local, the install token is dead
    token = token_of(client.get(OPTIONS, params=port_query(1)).json())
    assert client.get(OPTIONS, params=port_query(1, mac="dca6320000ff")).json() == {"66": "0.0.0.0"}
    m = client.get("/v1/admin/machines/pi-01", headers=auth()).json()
    assert m["flagged"] and "dc:a6:32:00:00:ff" in m["flag_reason"]
    assert client.post(f"/v1/install/{token}").status_code == 410
    # flagged stays local even for the right board
    assert client.get(OPTIONS, params=port_query(1, mac="dca632000001")).json() == {"66": "0.0.0.0"}
    assert kea.wait(1)[0]["arguments"]["sub82_1"] == port_query(1)["sub82_1"]


def test_board_moved_to_another_port_flags_both(client: TestClient) -> None:
    add(client)
    add(client, name="pi-02", n=2)
    # pi-01's board (its MAC) asks on pi-02's port
    assert client.get(OPTIONS, params=port_query(2, mac="dc:a6:32:00:00:01")).json() == {"66": "0.0.0.0"}
    p1 = client.get("/v1/admin/machines/pi-01", headers=auth()).json()
    p2 = client.get("/v1/admin/machines/pi-02", headers=auth()).json()
    assert p1["flagged"] and "pi-02" in p1["flag_reason"]
    assert p2["flagged"] and "pi-01" in p2["flag_reason"]
    assert client.get(OPTIONS, params=port_query(1)).json() == {"66": "0.0.0.0"}


def test_known_board_on_an_unknown_port_is_flagged(client: TestClient) -> None:
    add(client)
    assert client.get(OPTIONS, params=port_query(7, mac="dc:a6:32:00:00:01")).json() == {"66": "0.0.0.0"}
    p1 = client.get("/v1/admin/machines/pi-01", headers=auth()).json()
    assert p1["flagged"] and "unknown switch port" in p1["flag_reason"]


def test_guid_cross_check_accepts_both_orders(client: TestClient) -> None:
    body = add(client)
    mac, serial = str(body["mac"]), str(body["serial"])
    for fourcc in (b"RPi4", b"4iPR"):
        for rev in (False, True):
            g = guid_for(mac, serial, fourcc, rev)
            assert "224" in client.get(OPTIONS, params=port_query(1, guid=g)).json(), (fourcc, rev)


def test_guid_with_another_serial_flags(client: TestClient) -> None:
    body = add(client)
    g = guid_for(str(body["mac"]), "deadbeef")
    assert client.get(OPTIONS, params=port_query(1, guid=g)).json() == {"66": "0.0.0.0"}
    m = client.get("/v1/admin/machines/pi-01", headers=auth()).json()
    assert m["flagged"] and "serial" in m["flag_reason"]


def test_guid_with_another_mac_flags(client: TestClient) -> None:
    body = add(client)
    g = guid_for("dc:a6:32:00:00:77", str(body["serial"]))
    assert client.get(OPTIONS, params=port_query(1, guid=g)).json() == {"66": "0.0.0.0"}
    assert client.get("/v1/admin/machines/pi-01", headers=auth()).json()["flagged"]


def test_guid_serial_bytes_remembered_when_serial_unknown(client: TestClient) -> None:
    add(client, serial=None)
    assert (
        "224"
        in client.get(OPTIONS, params=port_query(1, guid=guid_for("dc:a6:32:00:00:01", "11223344"))).json()
    )
    assert (
        "224"
        in client.get(OPTIONS, params=port_query(1, guid=guid_for("dc:a6:32:00:00:01", "11223344"))).json()
    )
    assert client.get(
        OPTIONS, params=port_query(1, guid=guid_for("dc:a6:32:00:00:01", "55667788"))
    ).json() == {"66": "0.0.0.0"}


def test_board_serial_on_another_port_flags(client: TestClient) -> None:
    b1 = add(client)
    add(client, name="pi-02", n=2)
    g = guid_for("dc:a6:32:00:00:02", str(b1["serial"]))  # pi-02's MAC bytes, pi-01's serial
    assert client.get(OPTIONS, params=port_query(2, guid=g)).json() == {"66": "0.0.0.0"}
    assert client.get("/v1/admin/machines/pi-01", headers=auth()).json()["flagged"]
    assert client.get("/v1/admin/machines/pi-02", headers=auth()).json()["flagged"]


def test_loop_guard_flags_a_local_machine_that_keeps_asking(
    client: TestClient, clock: FakeClock, service: Service
) -> None:
    add(client, boot_mode="local")
    limit = service.settings.loop_guard_count
    for _ in range(limit):
        client.get(OPTIONS, params=port_query(1))
        clock.advance(service.settings.loop_guard_window_s / (limit + 1))
    assert not client.get("/v1/admin/machines/pi-01", headers=auth()).json()["flagged"]
    assert client.get(OPTIONS, params=port_query(1)).json() == {"66": "0.0.0.0"}
    m = client.get("/v1/admin/machines/pi-01", headers=auth()).json()
    assert m["flagged"] and "loop guard" in m["flag_reason"]


def test_loop_guard_ignores_asks_spread_beyond_the_window(
    client: TestClient, clock: FakeClock, service: Service
) -> None:
    add(client, boot_mode="local")
    for _ in range(service.settings.loop_guard_count * 3):
        client.get(OPTIONS, params=port_query(1))
        clock.advance(service.settings.loop_guard_window_s / 2)
    assert not client.get("/v1/admin/machines/pi-01", headers=auth()).json()["flagged"]


def test_expired_token_starts_a_new_attempt(client: TestClient, clock: FakeClock, service: Service) -> None:
    add(client)
    old = token_of(client.get(OPTIONS, params=port_query(1)).json())
    clock.advance(service.settings.token_ttl_s + 1)
    assert client.post(f"/v1/install/{old}").status_code == 410
    new = token_of(client.get(OPTIONS, params=port_query(1)).json())
    assert new != old
    m = client.get("/v1/admin/machines/pi-01", headers=auth()).json()
    assert m["attempts"] == 2 and m["last_attempt"]["number"] == 2


def test_bad_queries_are_4xx(client: TestClient) -> None:
    for params in (
        {},
        {"sub82_1": "xyz"},
        {"sub82_1": "abc"},
        {"sub82_1": "00", "mac": "12"},
        {"sub82_1": "00", "guid": "0011"},
        {"sub82_1": "00" * 400},
    ):
        r = client.get(OPTIONS, params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["detail"]
