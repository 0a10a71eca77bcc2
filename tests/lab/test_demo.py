"""`malina demo` on the simulated lab: Kea with the hook asks the real backend; install options first, then
boot-local after the admin API flips the board (the hook's cache flushed through kea-ctrl-agent)."""

from __future__ import annotations

import pytest

from harness.demo import main

pytestmark = pytest.mark.docker


def test_demo_two_boards(docker_engine: object, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--boards", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "demo: 2 of 2 boards ok" in out
    rows = [line for line in out.splitlines() if line.startswith("pi-0")]
    assert len(rows) == 2
    for row in rows:
        assert "/v1/install/" in row and "10.89.0.4" in row and "0.0.0.0" in row, row
