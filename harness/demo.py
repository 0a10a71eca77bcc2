"""`malina demo`: the main job on the simulated lab — the full sequence on several boards at once.

It brings the docker lab up (relay switch, Kea with the remote-options hook, backend, TFTP and file servers),
builds a test Ubuntu image, stages the TFTP trees and defines the boards in the backend (mode *install*), then
runs every board at the same time through the boot state machine: power on → DHCP (option 66 + 224 through the
hook) → TFTP → installer → verified write → reboot → the backend has turned option 66 to 0.0.0.0 → SD boot →
SSH. It prints a per-board table of stages and timings, progress while it waits, and exits non-zero when any
board did not make it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from harness.drivers.base import HarnessFailure
from harness.lab.docker_lab import LabError
from harness.lab.model import Lab, LabConfigError, load_lab
from harness.session import SimSession
from harness.strategy.boot import STAGES, BootReport, BootStrategy

SHOWN = [s for s in STAGES if s != "off"]


def _progress(strategies: dict[str, BootStrategy], done: threading.Event) -> None:
    while not done.wait(5.0):
        parts = []
        for name, s in strategies.items():
            stages = s.report.stages
            last = stages[-1].name if stages else "starting"
            parts.append(f"{name}: {last} done")
        print("demo: " + "; ".join(parts), file=sys.stderr, flush=True)


def run_board(session: SimSession, name: str, strategy: BootStrategy) -> BootReport:
    tftp = str(session.lab.services.tftp.address)
    try:
        strategy.install(tftp_server=tftp).close()  # SSH answered on the installed system
        m = session.backend.wait_state(name, {"booted-ok"}, timeout=30.0)
        strategy.report.facts["backend"] = f"{m['last_attempt']['state']}, mode {m['boot_mode']}"
    except HarnessFailure as exc:
        strategy.report.facts["error"] = str(exc)
    return strategy.report


def table(reports: list[BootReport], lab_up: float) -> str:
    head = ["board", *SHOWN, "total s", "result"]
    rows = []
    for r in reports:
        cells = [r.board] + [f"{r.seconds(s):.1f}" if any(x.name == s for x in r.stages) else "-" for s in SHOWN]
        err = r.facts.get("error")
        verdict = "ok: " + str(r.facts.get("backend", "")) if not err else "FAIL " + " ".join(str(err).split())[:100]
        rows.append([*cells, f"{r.total:.1f}", verdict])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    out = [f"lab up in {lab_up:.1f} s", line, "-" * len(line)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="malina demo", description=__doc__)
    ap.add_argument("--lab", default="lab.yaml")
    ap.add_argument("--boards", type=int, default=2, help="how many boards of the lab at once (default 2)")
    args = ap.parse_args(argv)
    try:
        lab: Lab = load_lab(args.lab)
    except LabConfigError as exc:
        print(f"malina demo: {exc}", file=sys.stderr)
        return 2
    if lab.lab.kind != "sim":
        print("malina demo: the demo runs on a simulated lab (lab.kind: sim)", file=sys.stderr)
        return 2
    names = [b.name for b in lab.boards[: args.boards]]
    t0 = time.monotonic()
    try:
        with SimSession(lab) as session, contextlib.ExitStack() as held:
            lab_up = time.monotonic() - t0
            targets = {n: held.enter_context(session.target(n)) for n in names}
            strategies = {n: BootStrategy(t) for n, t in targets.items()}
            done = threading.Event()
            ticker = threading.Thread(target=_progress, args=(strategies, done), daemon=True)
            ticker.start()
            try:
                with ThreadPoolExecutor(max_workers=len(names)) as pool:
                    reports = list(pool.map(lambda n: run_board(session, n, strategies[n]), names))
            finally:
                done.set()
            if any("error" in r.facts for r in reports):
                for n in names:
                    log = targets[n].console.log().decode("utf-8", "replace")
                    print(f"--- {n} console (last lines) ---\n" + "\n".join(log.splitlines()[-25:]), file=sys.stderr)
    except (LabError, HarnessFailure) as exc:
        print(f"malina demo: {exc}", file=sys.stderr)
        return 1
    print(table(reports, lab_up))
    failed = [r.board for r in reports if "error" in r.facts]
    print(f"demo: {len(reports) - len(failed)} of {len(reports)} boards installed and booted from SD"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
