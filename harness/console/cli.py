"""`malina console parse FILE [--json]`: bootloader console output -> events.

With ``--json`` each event is printed as one JSON object per line (the summary last); otherwise a readable
table. ``FILE`` may be ``-`` for standard input. An unreadable file gives a clear error and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from harness.console.parser import parse_bytes


def _build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="malina console", description="parse Pi 4 bootloader console output")
    sub = ap.add_subparsers(dest="command", required=True)
    parse = sub.add_parser("parse", help="turn a console log into events")
    parse.add_argument("file", help="console log file ('-' for standard input)")
    parse.add_argument("--json", action="store_true", help="one JSON object per line")
    return ap


def _fmt(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "-" if value is None else str(value)


def _table(events: Sequence[Mapping[str, Any]]) -> str:
    width = max((len(e["event"]) for e in events), default=5)
    rows = []
    for e in events:
        fields = " ".join(f"{k}={_fmt(v)}" for k, v in e.items() if k != "event")
        rows.append(f"{e['event']:<{width}}  {fields}".rstrip())
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()  # noqa: SIM115
    except OSError as exc:
        print(f"malina console parse: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    events = parse_bytes(data)
    if args.json:
        for e in events:
            print(json.dumps(e))
    else:
        print(_table(events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
