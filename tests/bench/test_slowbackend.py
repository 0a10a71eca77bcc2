"""bench/slowbackend.py (the 100 ms stand-in of bench.hook's capacity case) on loopback."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.hook import SLOW_BACKEND_SOURCE
from testkit.ports import free_port, wait_listening

BODY = '{"66": "10.0.0.5"}'


@pytest.fixture
def port() -> Iterator[int]:
    free = free_port()
    proc = subprocess.Popen([sys.executable, str(Path(SLOW_BACKEND_SOURCE)), "--port", str(free), "--delay-ms", "100",
                             "--body", BODY])
    try:
        wait_listening(free, dead=lambda: None if proc.poll() is None else "slowbackend exited")
        yield free
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_each_request_on_a_kept_alive_connection_waits_its_delay(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for _ in range(2):   # the same connection twice: keep-alive
        start = time.monotonic()
        conn.request("GET", "/v1/dhcp/options?sub82_1=00")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read().decode() == BODY
        assert time.monotonic() - start >= 0.095
    conn.close()


def test_many_waiting_requests_are_answered_together(port: int) -> None:
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(50)]
    start = time.monotonic()
    for c in conns:
        c.request("GET", "/v1/dhcp/options")
    assert all(c.getresponse().read().decode() == BODY for c in conns)
    assert time.monotonic() - start < 1.0   # 50 x 100 ms one after another would take 5 s


def test_other_methods_are_refused(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/v1/dhcp/options", body=b"{}")
    assert conn.getresponse().status == 405
