"""Board leases in the backend (``/v1/leases``, ``/v1/boards``) on SQLite and PostgreSQL: exclusive, all or
none, TTL on the backend's clock, renewal, release by id, quarantine per run, bad health until a check passes,
tokens; concurrent acquisitions never hand a board out twice."""

from __future__ import annotations

import threading
from typing import Any

from backend_helpers import READ, WRITE, FakeClock
from fastapi.testclient import TestClient

from backend.leases import AcquireIn, BoardLeases
from backend.service import Service

BOARDS = ["pi-01", "pi-02", "pi-03"]
W = {"Authorization": f"Bearer {WRITE}"}
R = {"Authorization": f"Bearer {READ}"}


def acquire(client: TestClient, owner: str, boards: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    body = {"lab": "sim", "boards": boards or BOARDS, "owner": owner, "host": "h1", "pid": 1, "ttl": 60, **extra}
    response = client.post("/v1/leases/acquire", json=body, headers=W)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def held(client: TestClient) -> dict[str, str]:
    leases = client.get("/v1/leases", params={"lab": "sim"}, headers=R).json()["leases"]
    return {lease["board"]: lease["owner"] for lease in leases}


def test_exclusive_all_or_none_and_released_by_id(client: TestClient) -> None:
    a = acquire(client, "w1")["leases"]
    b = acquire(client, "w2", count=2)["leases"]
    assert [x["board"] for x in a + b] == BOARDS
    refused = acquire(client, "w3")
    assert refused["leases"] == [] and refused["free"] == [] and refused["busy"]["pi-01"] == "w1"
    assert held(client) == {"pi-01": "w1", "pi-02": "w2", "pi-03": "w2"}
    assert client.delete(f"/v1/leases/{a[0]['id']}", headers=W).status_code == 204
    assert acquire(client, "w3", count=2)["leases"] == []  # all or none: one free board is not two
    again = acquire(client, "w3")["leases"]
    assert again[0]["board"] == "pi-01" and again[0]["id"] != a[0]["id"]
    # the old holder's id no longer frees the board, nor renews it
    assert client.delete(f"/v1/leases/{a[0]['id']}", headers=W).status_code == 204
    assert held(client)["pi-01"] == "w3"
    assert client.post(f"/v1/leases/{a[0]['id']}/renew", headers=W).status_code == 404


def test_ttl_runs_on_the_backend_clock_and_renewal_extends_it(client: TestClient, clock: FakeClock) -> None:
    lease = acquire(client, "w1", boards=["pi-01"], ttl=30)["leases"][0]
    assert lease["expires"] == clock.now + 30
    clock.now += 25
    renewed = client.post(f"/v1/leases/{lease['id']}/renew", headers=W).json()
    assert renewed["expires"] == clock.now + 30
    clock.now += 25
    assert acquire(client, "w2", boards=["pi-01"])["leases"] == []
    clock.now += 6
    assert held(client) == {}  # expired: shown free
    taken = acquire(client, "w2", boards=["pi-01"])["leases"]
    assert taken[0]["owner"] == "w2"


def test_quarantine_lasts_for_its_run_and_bad_health_until_a_check_passes(client: TestClient) -> None:
    q = client.post("/v1/boards/sim/pi-01/quarantine", json={"reason": "no DHCP reply", "run_id": "r1"}, headers=W)
    assert q.status_code == 200 and q.json()["quarantined"] == "no DHCP reply"
    refused = acquire(client, "w1", boards=["pi-01"], run_id="r1")
    assert refused["leases"] == [] and refused["out"] == {"pi-01": "no DHCP reply"}
    other_run = acquire(client, "w1", boards=["pi-01"], run_id="r2")["leases"]
    assert other_run and client.delete(f"/v1/leases/{other_run[0]['id']}", headers=W).status_code == 204
    assert client.delete("/v1/boards/sim/pi-01/quarantine", headers=W).json()["quarantined"] is None
    assert acquire(client, "w1", boards=["pi-01"], run_id="r1")["leases"]

    bad = client.put("/v1/boards/sim/pi-02/health", json={"ok": False, "evidence": {"message": "no banner"}},
                     headers=W).json()
    assert bad["health"] == "bad" and bad["evidence"] == {"message": "no banner"}
    refused = acquire(client, "w2", boards=["pi-02"], run_id="r9")
    assert refused["leases"] == [] and "no banner" in refused["out"]["pi-02"]
    check = acquire(client, "health", boards=["pi-02"], include_bad=True)["leases"]
    assert check[0]["board"] == "pi-02"
    client.put("/v1/boards/sim/pi-02/health", json={"ok": True, "evidence": {"stages": 9}}, headers=W)
    client.delete(f"/v1/leases/{check[0]['id']}", headers=W)
    assert acquire(client, "w2", boards=["pi-02"])["leases"]
    boards = {b["board"]: b for b in client.get("/v1/boards", params={"lab": "sim"}, headers=R).json()["boards"]}
    assert boards["pi-02"]["health"] == "ok" and boards["pi-02"]["lease"]["owner"] == "w2"
    assert boards["pi-01"]["lease"]["owner"] == "w1"


def test_tokens(client: TestClient) -> None:
    body = {"lab": "sim", "boards": ["pi-01"], "owner": "w", "host": "h", "ttl": 5}
    assert client.post("/v1/leases/acquire", json=body).status_code == 401
    assert client.post("/v1/leases/acquire", json=body, headers=R).status_code == 403
    assert client.get("/v1/leases", headers=R).status_code == 200
    assert client.get("/v1/boards").status_code == 401
    assert client.post("/v1/leases/acquire", json={**body, "owner": "a\x00b"}, headers=W).status_code == 422
    assert client.post("/v1/leases/acquire", json={**body, "ttl": 0}, headers=W).status_code == 422


def test_concurrent_acquisitions_never_share_a_board(service: Service) -> None:
    leases = BoardLeases(service.db, clock=service.clock)
    n = 12
    barrier = threading.Barrier(n)
    got: list[str] = []
    errors: list[BaseException] = []

    def take(i: int) -> None:
        try:
            barrier.wait()
            out = leases.acquire(AcquireIn(lab="sim", boards=BOARDS, owner=f"w{i}", host="h", ttl=60))
            got.extend(lease.board for lease in out.leases)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(got) == BOARDS  # three winners, one board each; the nine others got none
    assert sorted(b.board for b in leases.boards("sim").boards if b.lease) == BOARDS
