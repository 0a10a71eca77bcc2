"""Regenerate requirements.lock from requirements.in with pip's own resolver (``make lock``).

``pip install --dry-run --ignore-installed --report`` resolves against the package index pip is configured
with and installs nothing; the report's install list, as ``name==version`` lines, is the lock. By default the
current pins are passed as constraints, so only packages that were added or dropped change (pip-compile's
behaviour); ``--upgrade`` (``make lock UPGRADE=1``) resolves everything afresh to the newest allowed versions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADER = """\
# Pinned versions of every Python package malina installs (host venv and the images' wheelhouses).
# Regenerate with: make lock (keeps these pins where they still fit; make lock UPGRADE=1 takes the newest).
"""


def resolve(requirements: Path, constraints: Path | None) -> list[str]:
    """``name==version`` of everything pip would install for ``requirements``, sorted as the lock is."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--disable-pip-version-check", "--report", str(report), "-r", str(requirements)]
        if constraints is not None:
            cmd += ["-c", str(constraints)]
        subprocess.run(cmd, check=True)
        installs = json.loads(report.read_text())["install"]
    pins = {f"{i['metadata']['name']}=={i['metadata']['version']}" for i in installs}
    return sorted(pins, key=str.lower)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make lock", description=__doc__.splitlines()[0])
    ap.add_argument("--upgrade", action="store_true", help="ignore the current pins: newest allowed versions")
    args = ap.parse_args(argv)
    lock = REPO / "requirements.lock"
    keep = lock if lock.exists() and not args.upgrade else None
    try:
        pins = resolve(REPO / "requirements.in", keep)
    except subprocess.CalledProcessError:
        hint = " (a current pin may conflict: try make lock UPGRADE=1)" if keep else ""
        print(f"make lock: pip could not resolve requirements.in{hint}", file=sys.stderr)
        return 1
    old = {line for line in lock.read_text().splitlines() if "==" in line} if lock.exists() else set()
    lock.write_text(HEADER + "".join(f"{pin}\n" for pin in pins))
    changed = sorted(set(pins) ^ old, key=str.lower)
    print(f"requirements.lock: {len(pins)} pins; " + (f"changed: {', '.join(changed)}" if changed else "unchanged"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
