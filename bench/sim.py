"""Benchmark of the simulated lab: wall time of the full sequence for 1, 4 and 16 boards at once.

One docker lab with 16 switch ports and 16 simulated boards (the default lab.yaml's services and networks,
ports and boards added in the same pattern) is brought up once. Then, for N = 1, 4, 16: every board of the
round gets a fresh container and a blank card and is defined afresh in the backend (mode install); all N are
powered on at the same moment and driven through the boot state machine (power on → DHCP through the relay and
the hook → TFTP → installer → verified write → reboot → option 66 = 0.0.0.0 → SD boot → SSH); the round's wall
time runs from the power-on to the last board answering SSH with the backend at booted-ok.

Writes `bench/results/sim.json` and prints a one-line summary last.
Targets: one board ≤ 30 s; 16 boards ≤ 2 x one board.

    .venv/bin/python -m bench.sim [--rounds 1,4,16]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.demo import run_board
from harness.lab.model import Lab, load_lab
from harness.session import SimSession
from harness.strategy.boot import BootReport, BootStrategy

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "sim.json"
MAX_BOARDS = 16


def bench_lab(base: Lab, count: int) -> Lab:
    """``base`` with ``count`` ports and boards (port N: 10.90.N.0/24, board pi-NN on it)."""
    doc: dict[str, Any] = base.model_dump(mode="json", exclude_none=True)
    first = ipaddress.IPv4Network(doc["switch"]["ports"][0]["subnet"])
    template = doc["boards"][0]
    ports, boards = [], []
    for i in range(1, count + 1):
        net = ipaddress.IPv4Network((int(first.network_address) + (i - 1) * 256, 24))
        ports.append({"name": f"port{i}", "subnet": str(net), "circuit_id": f"Gi1/0/{i}"})
        boards.append({**template, "name": f"pi-{i:02d}", "port": f"port{i}", "mac": f"dc:a6:32:00:01:{i:02x}",
                       "serial": f"{0x5a000000 + i:08x}", "uart_format": ("2021", "2022", "2024")[i % 3],
                       "install": {**template["install"], "hostname": f"pi-{i:02d}",
                                   "address": f"{net.network_address + 50}/24"}})
    doc["lab"]["name"] = "bench"
    doc["switch"]["ports"] = ports
    doc["boards"] = boards
    return Lab.model_validate(doc)


def _cpu_seconds(session: SimSession, names: list[str]) -> float:
    """CPU time the boards' containers used so far (cgroup v1 cpuacct or v2 cpu.stat; 0 when unreadable)."""
    total = 0.0
    for n in names:
        cid = session.run.containers[f"board-{n}"].id
        for path, scale in ((Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage"), 1e-9),
                            (Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"), 1e-6)):
            try:
                text = path.read_text()
            except OSError:
                continue
            total += (int(text.split()[1]) if "usage_usec" in text else int(text)) * scale
            break
    return total


def one_round(session: SimSession, names: list[str]) -> tuple[float, float, list[BootReport]]:
    for n in names:
        session.define(n, mode="install")
    targets = {n: session.target(n) for n in names}
    strategies = {n: BootStrategy(t, scale=3.0 if len(names) > 4 else 1.0) for n, t in targets.items()}
    cpu0 = _cpu_seconds(session, names)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        reports = list(pool.map(lambda n: run_board(session, n, strategies[n]), names))
    wall = time.monotonic() - start
    cpu = _cpu_seconds(session, names) - cpu0
    for t in targets.values():
        session.release(t)
    return wall, cpu, reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.sim", description=__doc__)
    ap.add_argument("--rounds", default="1,4,16", help="board counts, comma-separated (default 1,4,16)")
    args = ap.parse_args(argv)
    rounds = [int(x) for x in args.rounds.split(",")]
    lab = bench_lab(load_lab(REPO / "lab.yaml"), max(rounds))
    walls: dict[int, float] = {}
    cpus: dict[int, float] = {}
    failures: dict[int, list[str]] = {}
    stages: dict[int, dict[str, float]] = {}
    with SimSession(lab) as session:
        for n in rounds:
            names = [b.name for b in session.lab.boards[:n]]
            print(f"bench-sim: {n} board(s) at once ...", file=sys.stderr, flush=True)
            wall, cpus[n], reports = one_round(session, names)
            walls[n] = wall
            failures[n] = [f"{r.board}: {r.facts['error']}" for r in reports if "error" in r.facts]
            stages[n] = {s: max(r.seconds(s) for r in reports) for s in ("dhcp", "tftp", "writing", "sd-boot")}
            print(f"bench-sim: {n} board(s): {wall:.1f} s, {len(failures[n])} failed "
                  + " ".join(f"{k}≤{v:.1f}s" for k, v in stages[n].items()), file=sys.stderr, flush=True)
    cases: list[dict[str, Any]] = []
    for n in rounds:
        case: dict[str, Any] = {"name": f"full sequence, {n} board(s) at once", "value": round(walls[n], 2),
                                "unit": "s", "failed_boards": len(failures[n]), "slowest_stage_s": stages[n],
                                "board_cpu_s_per_board": round(cpus[n] / n, 3)}
        if n == 1:
            case["target"] = "<= 30"
        cases.append(case)
    if 1 in walls and 16 in walls:
        cases.append({"name": "16 boards / 1 board wall time", "value": round(walls[16] / walls[1], 3),
                      "unit": "ratio", "target": "<= 2.0"})
        cores = os.cpu_count() or 1
        floor = cpus[16] / cores / walls[1]
        cases.append({"name": f"CPU floor of that ratio on this machine ({cores} cores: boards' CPU / cores / "
                              "one board's wall time)", "value": round(floor, 3), "unit": "ratio"})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "sim", "cases": cases,
                                   "failures": {str(k): v for k, v in failures.items() if v}}, indent=2) + "\n")
    ok = all(not v for v in failures.values())
    ratio = f", 16/1 = {walls[16] / walls[1]:.2f}x (target <= 2)" if 1 in walls and 16 in walls else ""
    one = f"1 board {walls[1]:.1f} s (target <= 30)" if 1 in walls else ""
    print(f"bench-sim: {one}{ratio}; " + ", ".join(f"{n}: {walls[n]:.1f} s" for n in rounds)
          + ("" if ok else "; SOME BOARDS FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
