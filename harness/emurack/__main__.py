"""``python -m harness.emurack --lab lab.emulated-rack.yaml -- COMMAND...``: bring the emulated rack up, run
COMMAND (the scenarios, through the rack session) and take everything down again; exits with COMMAND's status.
Without COMMAND it holds the rack up until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

from harness.emurack.rack import EmulatedRack
from harness.lab.docker_lab import LabError
from harness.lab.model import LabConfigError, load_lab


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.emurack", description=__doc__)
    ap.add_argument("--lab", default="lab.emulated-rack.yaml")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        lab = load_lab(args.lab)
        with EmulatedRack(lab):
            if not command:
                print("emulated rack up; Ctrl-C takes it down", file=sys.stderr)
                signal.pause()
                return 0
            return subprocess.call(command)
    except (LabError, LabConfigError) as exc:
        print(f"emulated rack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
