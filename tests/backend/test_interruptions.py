"""Interrupted installs (issue 18.6), on SQLite and PostgreSQL: an installer that starts over mid-write is
counted against MALINA_MAX_INTERRUPTIONS (3 in these settings by default); at the cap the attempt ends, the
machine goes to local, is flagged (kind ``interruptions``) and the installer gets 410; reinstall clears it."""

from __future__ import annotations

from typing import Any

from backend_helpers import HOOK_AUTH, KeaStub, auth, board_client, port_query
from fastapi.testclient import TestClient
from test_api_agent import OPTIONS, get_machine, progress, result, setup_machine

from backend.app import create_app
from backend.config import Settings
from backend.interruptions import flag_reason, reached, where
from backend.metrics import flag_kind
from backend.service import Service


def cut_mid_write(client: TestClient, token: str, written: int = 2048) -> Any:
    """The installer reaches writing, the board loses power, netboots again: its installer asks again."""
    assert progress(client, token, "netbooting").status_code in (200, 409)
    assert progress(client, token, "writing", written).status_code == 200
    return client.post(f"/v1/install/{token}")


def history(client: TestClient) -> list[dict[str, Any]]:
    r = client.get("/v1/admin/machines/pi-01/history", headers=auth())
    assert r.status_code == 200
    return list(r.json()["events"])


def test_each_restart_mid_write_is_counted_and_kept_in_the_history(client: TestClient) -> None:
    token = setup_machine(client)
    assert client.post(f"/v1/install/{token}").status_code == 200
    assert get_machine(client)["interruptions"] == 0
    assert cut_mid_write(client, token).status_code == 200
    m = get_machine(client)
    assert (m["interruptions"], m["attempts"], m["flagged"], m["boot_mode"]) == (1, 1, False, "install")
    assert m["last_attempt"]["state"] == "netbooting"
    assert cut_mid_write(client, token, 4000).status_code == 200
    assert get_machine(client)["interruptions"] == 2
    texts = [e["message"] for e in history(client) if e["kind"] == "interrupted"]
    assert len(texts) == 2, texts
    assert any("interruption 1 of cap 3" in t and "while writing (2048 of 4096 bytes reported)" in t
               for t in texts), texts
    # the third restart mid-write reaches the cap only when it happens: a clean finish now still succeeds
    assert progress(client, token, "netbooting").status_code == 200
    assert progress(client, token, "writing", 4096).status_code == 200
    assert result(client, token).status_code == 200
    m = get_machine(client)
    assert m["boot_mode"] == "local" and not m["flagged"] and m["interruptions"] == 2


def test_the_cap_flags_the_machine_sends_it_local_and_refuses_the_installer(client: TestClient,
                                                                            kea: KeaStub) -> None:
    token = setup_machine(client)
    assert client.post(f"/v1/install/{token}").status_code == 200
    for _ in range(2):
        assert cut_mid_write(client, token).status_code == 200
    refused = cut_mid_write(client, token)
    assert refused.status_code == 410, refused.text
    assert "interruption cap 3" in refused.json()["detail"]
    m = get_machine(client)
    assert m["flagged"] and m["boot_mode"] == "local" and m["interruptions"] == 3, m
    assert flag_kind(m["flag_reason"]) == "interruptions"
    assert m["attempts"] == 1, "interruptions are not failed attempts"
    assert m["last_attempt"]["state"] == "failed" and "interrupted 3 times" in m["last_attempt"]["error"]
    # the token is dead: the installer cannot carry on, and DHCP answers boot-local (never 224)
    assert progress(client, token, "writing", 10).status_code == 410
    answer = client.get(OPTIONS, params=port_query(1)).json()
    assert "224" not in answer and answer["66"] == "0.0.0.0", answer
    kinds = [e["kind"] for e in history(client)]
    assert kinds.count("interrupted") == 3 and "flagged" in kinds, kinds
    assert kea.wait(1), "the hook's cache of the port was not flushed"


def test_reinstall_clears_the_count_and_the_flag(client: TestClient) -> None:
    token = setup_machine(client)
    assert client.post(f"/v1/install/{token}").status_code == 200
    for _ in range(3):
        cut_mid_write(client, token)
    assert get_machine(client)["flagged"]
    assert client.post("/v1/admin/machines/pi-01/reinstall", headers=auth()).status_code == 200
    m = get_machine(client)
    assert (m["interruptions"], m["attempts"], m["flagged"], m["boot_mode"]) == (0, 0, False, "install")
    answer = client.get(OPTIONS, params=port_query(1)).json()
    assert "224" in answer, answer


def test_a_second_scenario_read_before_writing_is_no_interruption(client: TestClient) -> None:
    """Only a restart after the write began counts: a board reset while netbooting lost nothing."""
    token = setup_machine(client)
    for _ in range(5):
        assert client.post(f"/v1/install/{token}").status_code == 200
    m = get_machine(client)
    assert m["interruptions"] == 0 and not m["flagged"]


def test_the_cap_is_a_setting(service: Service, settings: Settings) -> None:
    """MALINA_MAX_INTERRUPTIONS=1: the first restart mid-write flags the machine."""
    one = settings.model_copy(update={"max_interruptions": 1})
    with board_client(create_app(one, Service(service.db, one, clock=service.clock))) as client:
        client.headers.update(HOOK_AUTH)
        token = setup_machine(client)
        assert client.post(f"/v1/install/{token}").status_code == 200
        assert cut_mid_write(client, token).status_code == 410
        m = get_machine(client)
        assert m["flagged"] and m["interruptions"] == 1 and "interruption cap 1" in m["flag_reason"], m


def test_the_texts() -> None:
    assert reached(3, 3) and not reached(2, 3)
    assert flag_kind(flag_reason(5, 5)) == "interruptions"
    assert flag_kind("attempt cap 3 reached") == "attempts"
    assert where("verifying", None, None) == "while verifying"
