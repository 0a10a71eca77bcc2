"""``GET /v1/dhcp/options`` wants the Kea hook's bearer secret (issue 13.1): 401 without it, and an untrusted caller
changes nothing (no token, no attempt, no first-seen identity, no flag, no loop-guard count)."""

from __future__ import annotations

from pathlib import Path

import pytest
from backend_helpers import HOOK_SECRET, auth, machine, port_query
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.config import ConfigError, Settings
from backend.hookauth import MIN_CHARS, authorized, read_secret
from backend.service import Service

OPTIONS = "/v1/dhcp/options"
WRONG = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": f"Basic {HOOK_SECRET}"},
    {"Authorization": f"Bearer {HOOK_SECRET[:-1]}"},
    {"Authorization": f"Bearer {HOOK_SECRET}x"},
    {"Authorization": f"Bearer {HOOK_SECRET.upper()}"},
    {"Authorization": "Bearer write-token-456"},  # an admin token is not the hook's credential
]


def _machine_view(client: TestClient, name: str = "pi-01") -> tuple[object, ...]:
    m = client.get(f"/v1/admin/machines/{name}", headers=auth()).json()
    events = client.get(f"/v1/admin/machines/{name}/history", headers=auth()).json()["events"]
    return m["attempts"], m["flagged"], m["mac"], m["serial"], m["last_attempt"], len(events)


@pytest.mark.parametrize("headers", WRONG, ids=[str(i) for i in range(len(WRONG))])
def test_refused_without_the_secret(client: TestClient, headers: dict[str, str]) -> None:
    client.post("/v1/admin/machines", json=machine(mac=None), headers=auth())
    before = _machine_view(client)
    client.headers.pop("Authorization", None)  # the fixture's hook credential off: only ``headers`` count
    # the install port, the port with another board's MAC, an unknown port carrying the victim's MAC
    for params in (port_query(1), port_query(1, mac="dca6320000ff"), port_query(9, mac="dca632000001")):
        for _ in range(5):  # more than the loop guard's count
            r = client.get(OPTIONS, params=params, headers=headers)
            assert r.status_code == 401, r.text
            assert r.headers["www-authenticate"] == "Bearer"
            assert HOOK_SECRET not in r.text and "224" not in r.json()
    assert _machine_view(client) == before


def test_the_secret_gets_the_answer(client: TestClient) -> None:
    client.post("/v1/admin/machines", json=machine(), headers=auth())
    r = client.get(OPTIONS, params=port_query(1), headers={"Authorization": f"bearer  {HOOK_SECRET}"})
    assert r.status_code == 200 and r.json()["224"].startswith("http://10.89.0.3:8080/v1/install/")


def test_bad_query_without_the_secret_is_401_not_422(client: TestClient) -> None:
    client.headers.pop("Authorization", None)
    assert client.get(OPTIONS, params={"sub82_1": "zz"}).status_code == 401


def test_no_secret_configured_refuses_everything(service: Service, settings: Settings) -> None:
    app = create_app(settings.with_(hook_secret_file=None), service)
    with TestClient(app) as client:
        client.post("/v1/admin/machines", json=machine(), headers=auth())
        r = client.get(OPTIONS, params=port_query(1), headers={"Authorization": f"Bearer {HOOK_SECRET}"})
        assert r.status_code == 401 and "MALINA_HOOK_SECRET_FILE" in r.json()["detail"]
        assert client.get("/v1/admin/machines/pi-01", headers=auth()).json()["attempts"] == 0


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read"),
    (b"", "is empty"),
    (b" \n\n", "is empty"),
    (b"s" * (MIN_CHARS - 1) + b"\n", f"at least {MIN_CHARS}"),
    (b"s" * 40 + b"\nX-Injected: 1\n", "printable ASCII"),
    (b"s" * 20 + b" " + b"s" * 20, "printable ASCII"),
    (b"s" * 5000, "longer than"),
])
def test_unusable_secret_file_is_a_start_up_error(tmp_path: Path, settings: Settings, content: bytes | None,
                                                  says: str) -> None:
    path = tmp_path / "bad.secret"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        create_app(settings.with_(hook_secret_file=str(path)))
    message = str(info.value)
    assert message.startswith("MALINA_HOOK_SECRET_FILE: ") and says in message
    assert "ssssssss" not in message  # the secret is never echoed


def test_shortest_secret_and_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "ok.secret"
    path.write_bytes(b"k" * MIN_CHARS + b"\r\n")
    secret = read_secret(str(path))
    assert secret == b"k" * MIN_CHARS
    assert authorized("Bearer " + "k" * MIN_CHARS, secret)
    assert not authorized("Bearer " + "k" * (MIN_CHARS - 1), secret)
    assert not authorized(None, secret) and not authorized("Bearer " + "k" * MIN_CHARS, None)
