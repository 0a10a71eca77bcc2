"""harness.sim.board.config: board.json as the lab writes it (harness.lab.boardspec) and the board reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from harness.lab import boardspec
from harness.lab.model import load_lab
from harness.sim.board.config import BoardConfig, BoardConfigError, load

REPO = Path(__file__).resolve().parents[2]
MINIMAL = {"name": "pi-01", "mac": "dc:a6:32:00:00:01", "serial": "6e87a417"}


def test_defaults() -> None:
    cfg = BoardConfig(**MINIMAL)
    assert (cfg.revision, cfg.uart_format, cfg.time_factor, cfg.power_port, cfg.console_port, cfg.ssh_port) == (
        "c03111", "2022", 1.0, 7000, 7001, 22)
    assert cfg.installer == ("/usr/bin/malina-installer",) and cfg.installer_env == {}
    assert cfg.volatile_dirs == ("/run/malina", "/run/malina-sim") and not cfg.power_on_at_start
    assert cfg.mac_bytes == bytes.fromhex("dca632000001") and cfg.serial_int == 0x6E87A417
    assert cfg.revision_int == 0xC03111


def test_the_lab_writes_what_the_board_loads(tmp_path: Path) -> None:
    lab = load_lab(REPO / "lab.yaml")
    board = lab.boards[0]
    cfg = boardspec.board_config(lab, board)
    text = cfg.to_json()
    data = json.loads(text)
    # the file format: every field, sorted keys, two-space indent, tuples as lists
    assert list(data) == sorted(data) and text.startswith('{\n  "card": ') and text.endswith("}\n")
    assert set(data) == set(BoardConfig.model_fields)
    assert data["installer"] == ["/usr/bin/malina-installer"] and data["mac"] == board.mac
    (tmp_path / "board.json").write_text(text)
    assert load(tmp_path / "board.json") == cfg


@pytest.mark.parametrize(("change", "field"), [
    ({"mac": "DC:A6:32:00:00:01"}, "mac"), ({"serial": "6e87a41"}, "serial"), ({"revision": "c0311"}, "revision"),
    ({"uart_format": "2023"}, "uart_format"), ({"time_factor": 0}, "time_factor"),
    ({"time_factor": 1.5}, "time_factor"),
    ({"power_port": 65536}, "power_port"), ({"ssh_port": 0}, "ssh_port"), ({"installer": []}, "installer"),
    ({"surprise": 1}, "surprise"), ({"name": None}, "name"),
])
def test_errors_name_the_file_and_the_field(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    path = tmp_path / "board.json"
    path.write_text(json.dumps({**MINIMAL, **change}))
    with pytest.raises(BoardConfigError, match=rf"^{path}: {field}: "):
        load(path)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(BoardConfigError, match="No such file"):
        load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(BoardConfigError, match="not JSON"):
        load(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(BoardConfigError, match=r"\(top\): "):
        load(tmp_path / "list.json")
    missing = dict(MINIMAL)
    del missing["serial"]
    (tmp_path / "short.json").write_text(json.dumps(missing))
    with pytest.raises(BoardConfigError, match="serial: Field required"):
        load(tmp_path / "short.json")


def test_built_in_code_is_validated_and_frozen() -> None:
    with pytest.raises(ValidationError):
        BoardConfig(**{**MINIMAL, "mac": "not a mac"})
    cfg = BoardConfig(**MINIMAL)
    with pytest.raises(ValidationError):
        cfg.name = "pi-02"  # type: ignore[misc]
