"""The plugin's health marking, release gate and report files, in pytest runs of the plugin alone (subprocess,
no docker: the inner tests lease boards with ``board_leases`` and never start them).

- ``-m health``: a test per board of lab.yaml's ``health.boards``; a failure marks the board bad with the
  evidence (class, stage, message), a pass marks it ok; a bad board is leased to no other test;
- ``-m release_gate`` fails the run on fewer healthy boards than ``release_gate.min_healthy_boards``;
- ``--alluredir``: environment.properties (commit, lab, Kea, each board's bootloader and health) and
  categories.json (infrastructure / product / no board / other) beside the results.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

from fixtures import report
from harness.lab.model import load_lab
from harness.leases import FileLeaseStore

REPO = Path(__file__).resolve().parents[2]

INNER = '''
import os
import pytest
from harness.drivers.base import InfraFailure, ProductFailure


@pytest.mark.health
def test_health(board_name, board_leases):
    assert board_leases[0].board == board_name
    if board_name in os.environ.get("BROKEN", "").split(","):
        raise InfraFailure("no bootloader banner after power on", stage="power-on", board=board_name)


@pytest.mark.release_gate
@pytest.mark.board(count=2)
def test_gate(board_leases):
    bad = os.environ.get("BROKEN", "").split(",")
    assert not [lease.board for lease in board_leases if lease.board in bad], "a bad board was leased"


@pytest.mark.release_gate
def test_infra_trouble(lease_store):
    if os.environ.get("QUARANTINE"):
        lease_store.quarantine(os.environ["QUARANTINE"], "no DHCP reply")


def test_product_bug():
    raise ProductFailure("option 66 was 0.0.0.0", stage="dhcp", board="pi-01")
'''


def write_lab(tmp_path: Path, **extra: Any) -> Path:
    doc: dict[str, Any] = yaml.safe_load((REPO / "lab.yaml").read_text())
    doc.update(health={"boards": ["pi-01", "pi-02"]}, release_gate={"min_healthy_boards": 2}, **extra)
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run(tmp_path: Path, *args: str, broken: str = "", quarantine: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(REPO), "BROKEN": broken,
           "QUARANTINE": quarantine,
           "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock", "MALINA_COMMIT": "abc123"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "fixtures.plugin", "-p", "allure_pytest.plugin",
                           "-p", "no:cacheprovider", "-q", "-rA", "--lab", str(tmp_path / "lab.yaml"),
                           "--lease-dir", str(tmp_path / "leases"), "--rootdir", str(tmp_path), *args,
                           "test_inner.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def properties(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def test_health_marks_boards_and_the_gate_counts_them(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER))
    write_lab(tmp_path)
    results = tmp_path / "allure-results"
    health = run(tmp_path, "-m", "health", "--alluredir", str(results), broken="pi-02")
    assert health.returncode == 1, health.stdout + health.stderr
    assert "PASSED test_inner.py::test_health[pi-01]" in health.stdout, health.stdout
    assert "[pi-03]" not in health.stdout  # health.boards: pi-01 and pi-02 only
    store = FileLeaseStore(tmp_path / "leases", "sim", run_id="later")
    held = {h.board: h for h in store.holdings()}
    assert held["pi-01"].health == "ok" and held["pi-02"].health == "bad"
    evidence = held["pi-02"].evidence or {}
    assert evidence["kind"] == "infrastructure" and evidence["stage"] == "power-on"
    assert "no bootloader banner" in evidence["message"] and evidence["test"].endswith("test_health[pi-02]")

    env = properties(results / "environment.properties")
    assert env["commit"] == "abc123" and env["lab"] == "sim" and env["lab.kind"] == "sim"
    assert env["leases.store"] == "file" and "kea.version" in env
    assert {k for k in env if k.startswith("bootloader.")} == {"bootloader.pi-01", "bootloader.pi-02",
                                                               "bootloader.pi-03"}
    assert env["health.pi-01"] == "ok" and env["health.pi-02"] == "bad"
    categories = json.loads((results / "categories.json").read_text())
    assert [c["name"].split(" ")[0] for c in categories] == ["Infrastructure", "Product", "No", "Other"]

    # the gate: pi-01 healthy, pi-02 bad, pi-03 never checked: 1 < 2
    gate = run(tmp_path, "-m", "release_gate", broken="pi-02")
    assert gate.returncode == 1 and "2 passed" in gate.stdout, gate.stdout + gate.stderr
    assert "release gate: 1 healthy board(s) ['pi-01']" in gate.stdout and "asks for 2" in gate.stdout
    # pi-02 passes its next check: back in service, and the gate passes
    assert run(tmp_path, "-m", "health").returncode == 0
    gate = run(tmp_path, "-m", "release_gate")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    # a board quarantined during the gate run (by a pytest-xdist worker) does not count
    gate = run(tmp_path, "-p", "xdist.plugin", "-n", "2", "-m", "release_gate", quarantine="pi-01")
    assert gate.returncode == 1 and "2 passed" in gate.stdout, gate.stdout + gate.stderr
    assert "quarantined in this run: no DHCP reply" in gate.stdout
    # without -m release_gate there is no gate: only the tests decide
    assert run(tmp_path, "-k", "test_gate").returncode == 0


def test_categories_tell_infrastructure_from_product() -> None:
    by_name = {c["name"].split(" ")[0]: c for c in report.CATEGORIES}

    def matches(name: str, message: str) -> bool:
        # Allure applies the regex to the whole message (Java's matches())
        return re.fullmatch(by_name[name]["messageRegex"], message) is not None

    infra = "harness.drivers.base.InfraFailure: [infrastructure pi-01/dhcp] no usable DHCP reply\nmore"
    product = "harness.drivers.base.ProductFailure: [product pi-01/dhcp] option 66 was 0.0.0.0"
    assert matches("Infrastructure", infra) and not matches("Product", infra) and not matches("Other", infra)
    assert matches("Product", product) and not matches("Infrastructure", product) and not matches("Other", product)
    assert matches("No", "Failed: no board for this test: 1 board(s) wanted") and matches("Other", "assert 1 == 2")


def test_environment_names_the_boards_bootloaders() -> None:
    log = (REPO / "tests/data/pi4/logs/netboot-offer-pxe-01.log").read_bytes()
    version = report.bootloader_version(log)
    assert version == "d6d82cf9 (Feb 16 2021)"
    lab = load_lab(REPO / "lab.yaml")
    env = report.environment(lab, {"kea": "2.2.0", "bootloader": {"pi-01": version}}, REPO, [])
    assert env["kea.version"] == "2.2.0" and env["bootloader.pi-01"] == version
    assert env["bootloader.pi-02"] == "not seen in this run" and env["health.pi-01"] == "unknown"
    assert re.fullmatch(r"[0-9a-f]{40}( \(modified\))?", env["commit"]) or env["commit"] == os.environ.get(
        "GITHUB_SHA", os.environ.get("MALINA_COMMIT"))
