"""`malina demo` on the simulated lab: two boards at once through the whole sequence (netboot install through
the hook and the backend, verified write, option 66 turned to 0.0.0.0, SD boot, SSH), with the stage table."""

from __future__ import annotations

import pytest

from harness.demo import SHOWN, main

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_demo_two_boards(docker_engine: object, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--boards", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "demo: 2 of 2 boards installed and booted from SD" in out
    header = next(line for line in out.splitlines() if line.startswith("board "))
    assert header.split()[1 : 1 + len(SHOWN)] == SHOWN
    rows = [line for line in out.splitlines() if line.startswith("pi-0")]
    assert len(rows) == 2
    for row in rows:
        cells = row.split()
        timings = [float(c) for c in cells[1 : 1 + len(SHOWN)]]
        assert all(t >= 0 for t in timings) and timings[SHOWN.index("writing")] > 0, row
        assert "ok: booted-ok, mode local" in row, row
