"""Concurrent DHCP asks for one machine (DISCOVER retries, relays, the installer) get one token, not many,
on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from backend_helpers import board_identity, machine, port_query

from backend.binding import Caller
from backend.decision import OptionsQuery
from backend.errors import Gone
from backend.identity import norm_hex
from backend.pgcluster import PgCluster
from backend.schemas import MachineIn, ProgressIn
from backend.service import Service


def test_parallel_asks_share_one_attempt(service: Service) -> None:
    service.add(MachineIn.model_validate(machine()))
    q = port_query(1)
    query = OptionsQuery(sub82_1=norm_hex(q["sub82_1"]), sub82_2=norm_hex(q["sub82_2"]))
    n = 8
    barrier = threading.Barrier(n)
    answers: list[dict[str, str]] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            barrier.wait()
            answers.append(service.options(query, "http://b"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(answers) == n
    assert len({a["224"] for a in answers}) == 1
    m = service.get_machine("pi-01")
    assert m.attempts == 1 and m.last_attempt is not None and m.last_attempt.number == 1
    assert [e.kind for e in service.history("pi-01").events] == ["added", "attempt"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_progress_never_overwrites_a_concurrent_state_change(service: Service, pg_cluster: PgCluster) -> None:
    """A reinstall (here: its transaction, held open) ends the attempt while a progress report comes in: the
    report waits for it and is refused (410); before the row lock it read the old state and wrote `verifying`
    over `failed` (issue 13)."""
    service.add(MachineIn.model_validate(machine()))
    q = port_query(1)
    query = OptionsQuery(sub82_1=norm_hex(q["sub82_1"]), sub82_2=norm_hex(q["sub82_2"]))
    token = service.options(query, "http://b")["224"].rsplit("/", 1)[1]
    board = Caller("10.90.1.100", **board_identity(1))  # the token's own board, from its port's subnet
    service.progress(token, ProgressIn(phase="writing", bytes_written=0, bytes_total=4096, rate_bps=1.0), board)
    outcome: list[object] = []

    def report() -> None:
        try:
            outcome.append(service.progress(token, ProgressIn(phase="verifying", bytes_written=4096,
                                                              bytes_total=4096, rate_bps=1.0), board))
        except Exception as exc:
            outcome.append(exc)

    url = service.db.engine.url
    with psycopg.connect(host="127.0.0.1", port=pg_cluster.port, user="postgres", dbname=url.database) as other:
        other.execute("UPDATE attempts SET state = 'failed', token = NULL, error = 'cancelled by reinstall'")
        thread = threading.Thread(target=report)
        thread.start()
        time.sleep(0.5)  # the report is under way: without the lock it has already read `writing`
        other.commit()
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], Gone), outcome
    attempt = service.get_machine("pi-01").last_attempt
    assert attempt is not None and attempt.state == "failed" and attempt.error == "cancelled by reinstall"
