"""``malina boards``: who holds which board of a lab, since when, until when; quarantines and health.

    malina boards [--lab lab.yaml] [--lease-dir build/leases] [--json]

The lease store is the one the lab file names (``leases.store``): this host's lease file, or the backend that
every CI host of the rack shares.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from harness.lab.model import LabConfigError, load_lab
from harness.leases import Holding, open_store


def _when(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    delta = ts - now
    rel = f"in {delta:.0f} s" if delta >= 0 else f"{-delta:.0f} s ago"
    return f"{time.strftime('%H:%M:%S', time.localtime(ts))} ({rel})"


def table(holdings: list[Holding], now: float) -> str:
    head = f"{'board':<12} {'holder':<40} {'host':<16} {'pid':>7}  {'since':<22} {'until':<22} {'health':<8} note"
    rows = [head, "-" * len(head)]
    for h in holdings:
        note = []
        if h.quarantined:
            note.append(f"quarantined in run {h.quarantine_run}: {h.quarantined[:60]}")
        if h.health == "bad" and h.evidence:
            note.append(f"bad since {_when(h.health_at, now)}: {str(h.evidence.get('message', ''))[:60]}")
        rows.append(f"{h.board:<12} {(h.owner or 'free')[:40]:<40} {(h.host or '-')[:16]:<16} "
                     f"{h.pid if h.pid else '-':>7}  {_when(h.since, now):<22} {_when(h.expires, now):<22} "
                     f"{h.health:<8} {'; '.join(note)}".rstrip())
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="malina boards", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--lab", default="lab.yaml", help="lab file (default lab.yaml)")
    parser.add_argument("--lease-dir", default="build/leases", help="file store: the lease files' directory")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    try:
        lab = load_lab(args.lab)
    except LabConfigError as exc:
        print(f"malina boards: {exc}", file=sys.stderr)
        return 2
    store = open_store(lab, directory=Path(args.lease_dir), run_id="malina-boards", ttl=1.0)
    try:
        held = {h.board: h for h in store.holdings()}
    except Exception as exc:  # the backend is down, the token is wrong: say so, as a command should
        print(f"malina boards: cannot read the {lab.leases.store} lease store: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    # every board of the lab, also those no harness leased yet
    holdings = [held.get(b.name, Holding(board=b.name)) for b in lab.boards]
    holdings += [h for name, h in sorted(held.items()) if name not in {b.name for b in lab.boards}]
    if args.json:
        print(json.dumps([asdict(h) for h in holdings], indent=1))
    else:
        print(f"lab {lab.lab.name} ({lab.leases.store} store)")
        print(table(holdings, time.time()))
    return 0
