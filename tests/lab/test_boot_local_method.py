"""The lab's boot-local method (issue 19): lab.yaml's ``services.backend.boot_local_method``, validated by the lab
model, reaches the backend as ``MALINA_BOOT_LOCAL_METHOD``; the TFTP server gets the gate URL and token."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from backend.decision import DEFAULT_METHOD, METHODS
from harness.lab import services
from harness.lab.model import BootLocalMethod, LabConfigError, load_lab, parse_lab

REPO = Path(__file__).resolve().parents[2]
TEXT = (REPO / "lab.yaml").read_text()


def test_the_lab_and_the_backend_know_the_same_methods() -> None:
    assert get_args(BootLocalMethod) == METHODS
    lab = load_lab(REPO / "lab.yaml")
    assert lab.services.backend.boot_local_method == DEFAULT_METHOD
    assert load_lab(REPO / "lab.rack.example.yaml").services.backend.boot_local_method == DEFAULT_METHOD


@pytest.mark.parametrize("method", METHODS)
def test_the_method_goes_to_the_backend_and_the_gate_to_the_tftp_server(method: str, tmp_path: Path) -> None:
    lab = parse_lab(TEXT.replace("boot_local_method: opt66-zero+tftp-deny", f"boot_local_method: {method}"))
    env = services.backend_spec(lab).env
    assert env["MALINA_BOOT_LOCAL_METHOD"] == method
    assert env["MALINA_TFTP_GATE_TOKEN"] == lab.services.backend.tftp_gate_token
    tftp = services.tftp_spec(lab, tmp_path)
    assert tftp.command[-2:] == ["--gate-url", "http://10.89.0.3:8080"]
    assert tftp.env == {"MALINA_TFTP_GATE_TOKEN": lab.services.backend.tftp_gate_token}


def test_a_bad_method_names_the_line() -> None:
    text = TEXT.replace("boot_local_method: opt66-zero+tftp-deny", "boot_local_method: pxe-off")
    with pytest.raises(LabConfigError) as info:
        parse_lab(text, "lab.yaml")
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "pxe-off" in row)
    assert str(info.value).startswith(f"lab.yaml:{line}: services.backend.boot_local_method:"), info.value


def test_the_gate_token_is_not_the_write_token() -> None:
    text = TEXT.replace("boot_local_method: opt66-zero+tftp-deny",
                        "boot_local_method: opt66-zero+tftp-deny\n"
                        "    tftp_gate_token: malina-write-token-of-the-simulated-lab")
    with pytest.raises(LabConfigError, match="tftp_gate_token must not be the write token"):
        parse_lab(text, "lab.yaml")
