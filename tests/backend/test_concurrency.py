"""Concurrent DHCP asks for one machine (DISCOVER retries, relays, the installer) get one token, not many,
on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from backend_helpers import machine, port_query

from backend.decision import OptionsQuery
from backend.identity import norm_hex
from backend.schemas import MachineIn
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
