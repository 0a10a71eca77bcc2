"""`malina console parse FILE [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.console.cli import main

LOG = (
    "Boot mode: NETWORK (02) order f1\n"
    "TFTP_GET: 02:00:00:00:00:01 10.89.2.1 97533126/start4.elf\n"
    "\n"
    "TFTP 1: File not found\n"
)


def test_json_one_object_per_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "console.log"
    f.write_text(LOG)
    assert main(["parse", str(f), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    objs = [json.loads(x) for x in lines]
    assert [o["event"] for o in objs] == ["boot_mode", "tftp_get", "tftp_error", "summary"]
    assert objs[-1]["boot_order"] == "0xf12"
    assert objs[-1]["tftp_paths"] == ["97533126/start4.elf"]


def test_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "console.log"
    f.write_bytes(LOG.encode() + b"\xff\xfe")
    assert main(["parse", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["boot_mode", "mode=NETWORK"]
    assert out[-1].startswith("summary")
    assert "boot_order=0xf12" in out[-1]


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.log"
    assert main(["parse", str(missing), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cannot read" in captured.err and str(missing) in captured.err
    assert main(["parse", str(tmp_path)]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_usage_error_exits_nonzero() -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_via_malina_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main as malina

    f = tmp_path / "console.log"
    f.write_text(LOG)
    assert malina(["console", "parse", str(f), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["boot_order"] == "0xf12"
