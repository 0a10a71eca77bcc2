"""The project's style rules as tests: ruff clean, mypy --strict on harness/ and backend/, shellcheck clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_clean() -> None:
    proc = _run([str(BIN / "ruff"), "check", "--output-format", "concise", "."])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_on_harness_and_backend() -> None:
    proc = _run([str(BIN / "mypy"), "--no-incremental", "harness", "backend"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _shell_files() -> list[str]:
    files: list[str] = []
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO)
        if not path.is_file() or rel.parts[0] in {".git", ".venv", "build"} or "node_modules" in rel.parts:
            continue
        if path.suffix == ".sh" or rel == Path(".ci/run"):
            files.append(str(rel))
            continue
        try:
            head = path.read_bytes()[:64]
        except OSError:
            continue
        if head.startswith((b"#!/bin/sh", b"#!/bin/bash", b"#!/usr/bin/env bash", b"#!/usr/bin/env sh")):
            files.append(str(rel))
    return sorted(files)


def test_shellcheck_clean() -> None:
    files = _shell_files()
    assert ".ci/run" in files and "scripts/setup.sh" in files
    proc = _run(["shellcheck", "--exclude=SC1091", *files])
    assert proc.returncode == 0, proc.stdout + proc.stderr
