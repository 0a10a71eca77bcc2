"""The documented rack lab file: it validates, its boards have what a rack needs, and the plugin deselects the
sim-only scenarios on it (collected, not skipped)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from harness.lab.model import load_lab

REPO = Path(__file__).resolve().parents[2]


def test_rack_example_validates() -> None:
    lab = load_lab(REPO / "lab.rack.example.yaml")
    assert lab.lab.kind == "rack" and lab.lab.capture_interface
    assert lab.services.tftp.root and lab.services.tftp.log
    assert {b.power.driver for b in lab.boards} == {"snmp", "command"}
    urls = [b.console.url for b in lab.boards]
    assert any(u.startswith("/dev/tty") for u in urls) and any(u.startswith("socket://") for u in urls)
    assert any(u.startswith("rfc2217://") for u in urls)
    for b in lab.boards:
        assert b.kind == "rack" and b.ssh.host == str(b.install.address.ip)
    image = lab.services.files.image
    assert image is not None and image.url.startswith("http") and image.size > 0
    assert lab.leases.store == "backend" and lab.release_gate.min_healthy_boards >= 1
    relay = [b for b in lab.boards if b.power.driver == "command"]
    assert relay and all(b.power.state for b in relay), "the example shows the optional state command"


def test_nightly_pipeline_example_parses() -> None:
    doc = yaml.safe_load((REPO / "docs" / "nightly-ci.example.yml").read_text())
    job = doc["jobs"]["rack"]
    assert job["runs-on"] == ["self-hosted", "malina-rack"]
    text = "\n".join(str(s.get("run", "")) for s in job["steps"])
    assert "--lab lab.rack.yaml" in text and "-n" in text and "make report" in text
    # the night starts with the health suite, ends with the release gate, and keeps the report's history
    names = [str(s.get("name", "")) for s in job["steps"]]
    runs = [str(s.get("run", "")) for s in job["steps"]]
    health = next(i for i, r in enumerate(runs) if "-m health" in r)
    gate = next(i for i, r in enumerate(runs) if '-m "release_gate' in r)
    report = runs.index("make report")
    assert health < gate < report and "health" in names[health]
    kept = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache")]
    assert [s["with"]["path"] for s in kept] == ["build/reports/allure-report/history"] * 2
    assert job["steps"].index(kept[0]) < health and job["steps"].index(kept[1]) > report


def test_sim_only_scenarios_are_deselected_on_a_rack() -> None:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "--lab", "lab.rack.example.yaml", "scenarios"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    # once per console format generation of the rack's boards (per_uart_format)
    assert any(i.startswith("scenarios/test_full_sequence.py::test_full_sequence[") for i in ids), ids
    assert not any("backend_down" in i or "tftp_down" in i or "test_ports" in i for i in ids), ids
    assert "deselected" in out.stdout
