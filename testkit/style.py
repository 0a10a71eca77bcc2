"""The project's style checks, defined once: ``make lint`` (``python -m testkit.style``) and
``tests/test_style.py`` run exactly these, so the two cannot drift.

- ``ruff``: ``ruff check .`` with pyproject's [tool.ruff] rules;
- ``mypy``: ``mypy --strict`` (pyproject's [tool.mypy]) on the folders it names, without the cache;
- ``shellcheck``: every shell script of the repository (``*.sh``, ``.ci/run``, files with a sh/bash shebang).

Each check runs the tool from the interpreter's venv (``python -m ruff`` / ``python -m mypy``) with the
repository as its working directory.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "build"}
SHEBANGS = (b"#!/bin/sh", b"#!/bin/bash", b"#!/usr/bin/env bash", b"#!/usr/bin/env sh")


def shell_files(repo: Path = REPO) -> list[str]:
    """Every shell script under ``repo`` (relative paths, sorted), outside .git, .venv, build, node_modules."""
    files: list[str] = []
    for path in repo.rglob("*"):
        rel = path.relative_to(repo)
        if not path.is_file() or rel.parts[0] in SKIP_DIRS or "node_modules" in rel.parts:
            continue
        if path.suffix == ".sh" or rel == Path(".ci/run"):
            files.append(str(rel))
            continue
        try:
            head = path.read_bytes()[:64]
        except OSError:
            continue
        if head.startswith(SHEBANGS):
            files.append(str(rel))
    return sorted(files)


def _ruff() -> list[str]:
    return [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."]


def _mypy() -> list[str]:
    return [sys.executable, "-m", "mypy", "--no-incremental"]


def _shellcheck() -> list[str]:
    # SC1091: sourced files are not followed (the agent's libraries are sourced by absolute paths on the board)
    return ["shellcheck", "--exclude=SC1091", *shell_files()]


CHECKS: dict[str, Callable[[], list[str]]] = {"ruff": _ruff, "mypy": _mypy, "shellcheck": _shellcheck}


def run(check: str) -> subprocess.CompletedProcess[str]:
    """Run one check in the repository; the caller looks at returncode and stdout/stderr."""
    return subprocess.run(CHECKS[check](), cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testkit.style", description="ruff, mypy strict, shellcheck")
    ap.add_argument("checks", nargs="*", metavar="CHECK", help=f"of {', '.join(CHECKS)} (default: all)")
    args = ap.parse_args(argv)
    unknown = [c for c in args.checks if c not in CHECKS]
    if unknown:
        ap.error(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}")
    failed = []
    for check in args.checks or list(CHECKS):
        proc = run(check)
        output = (proc.stdout + proc.stderr).strip()
        print(f"{check}: {'ok' if proc.returncode == 0 else 'FAILED'}", flush=True)
        if proc.returncode != 0:
            print(output, flush=True)
            failed.append(check)
    if failed:
        print(f"lint: {', '.join(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
