"""Board leases: exclusive, all-or-none, freed by TTL and by the holder's death, quarantine per run."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.leases import Heartbeat, LeaseRegistry, NoBoardFree

BOARDS = ["pi-01", "pi-02", "pi-03"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_leases_are_exclusive_and_released(tmp_path: Path) -> None:
    reg = LeaseRegistry(tmp_path, "sim", run_id="r1")
    a = reg.acquire(BOARDS, "w1")
    b = reg.acquire(BOARDS, "w2")
    assert [a[0].board, b[0].board] == ["pi-01", "pi-02"]
    both = reg.acquire(BOARDS, "w3", count=1)
    assert both[0].board == "pi-03"
    with pytest.raises(NoBoardFree, match="busy"):
        reg.acquire(BOARDS, "w4")
    a[0].release()
    assert reg.acquire(BOARDS, "w4")[0].board == "pi-01"


def test_all_or_none(tmp_path: Path) -> None:
    reg = LeaseRegistry(tmp_path, "sim", run_id="r1")
    reg.acquire(BOARDS, "w1")
    with pytest.raises(NoBoardFree):
        reg.acquire(BOARDS, "w2", count=3)
    assert [x.board for x in reg.acquire(BOARDS, "w2", count=2)] == ["pi-02", "pi-03"]


def test_ttl_expiry_and_renewal(tmp_path: Path) -> None:
    clock = Clock()
    reg = LeaseRegistry(tmp_path, "sim", run_id="r1", ttl=60, clock=clock)
    lease = reg.acquire(["pi-01"], "w1")[0]
    clock.now += 50
    lease.renew()
    clock.now += 50
    with pytest.raises(NoBoardFree):
        reg.acquire(["pi-01"], "w2")
    clock.now += 11
    assert reg.acquire(["pi-01"], "w2")[0].board == "pi-01"
    lease.release()  # a stale holder's release does not free the new holder's lease
    with pytest.raises(NoBoardFree):
        reg.acquire(["pi-01"], "w3")


def _hold(directory: str) -> None:
    LeaseRegistry(Path(directory), "sim", run_id="r1").acquire(["pi-01"], "dead-worker")
    os._exit(0)  # dies holding the lease


def test_a_dead_workers_lease_is_free(tmp_path: Path) -> None:
    proc = multiprocessing.get_context("fork").Process(target=_hold, args=(str(tmp_path),))
    proc.start()
    proc.join(10)
    table = json.loads((tmp_path / "sim.json").read_text())
    assert table["pi-01"]["owner"] == "dead-worker"
    reg = LeaseRegistry(tmp_path, "sim", run_id="r1")
    assert reg.acquire(["pi-01"], "w2")[0].board == "pi-01"


def test_concurrent_processes_never_share_a_board(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from harness.leases import LeaseRegistry, NoBoardFree\n"
            "reg = LeaseRegistry(Path(sys.argv[1]), 'sim', run_id='r1')\n"
            "try:\n    print(reg.acquire(['pi-01','pi-02','pi-03'], sys.argv[2])[0].board)\n"
            "except NoBoardFree:\n    print('none')\n"
            "import time; time.sleep(2)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"w{i}"], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2]) for i in range(5)]
    got = [p.communicate(timeout=30)[0].strip() for p in procs]
    boards = [g for g in got if g != "none"]
    assert sorted(boards) == BOARDS and got.count("none") == 2, got


def test_quarantine_lasts_for_the_run_only(tmp_path: Path) -> None:
    reg = LeaseRegistry(tmp_path, "sim", run_id="r1")
    lease = reg.acquire(BOARDS, "w1")[0]
    reg.quarantine(lease.board, "no DHCP reply")
    lease.release()
    assert reg.quarantined() == {"pi-01": "no DHCP reply"}
    assert reg.acquire(BOARDS, "w2")[0].board == "pi-02"
    other_run = LeaseRegistry(tmp_path, "sim", run_id="r2")
    assert other_run.quarantined() == {}
    assert other_run.acquire(["pi-01"], "w3")[0].board == "pi-01"


def test_heartbeat_renews(tmp_path: Path) -> None:
    clock = Clock()
    reg = LeaseRegistry(tmp_path, "sim", run_id="r1", ttl=60, clock=clock)
    lease = reg.acquire(["pi-01"], "w1")[0]
    clock.now += 55
    with Heartbeat([lease], interval=0.05):
        import time

        time.sleep(0.3)
    expires = json.loads((tmp_path / "sim.json").read_text())["pi-01"]["expires"]
    assert expires == pytest.approx(clock.now + 60)


def test_quarantine_of_every_candidate_fails_at_once(tmp_path: Path) -> None:
    import time

    reg = LeaseRegistry(tmp_path, "sim", run_id="r1")
    reg.quarantine("pi-01", "power API down")
    t0 = time.monotonic()
    with pytest.raises(NoBoardFree, match="power API down") as info:
        reg.wait_acquire(["pi-01"], "w1", timeout=30)
    assert info.value.permanent and time.monotonic() - t0 < 5
    busy = reg.acquire(["pi-02"], "w1")
    with pytest.raises(NoBoardFree) as info2:
        reg.wait_acquire(["pi-02"], "w2", timeout=0.5)
    assert not info2.value.permanent and busy
