"""The allowlist the lab bakes into the sim board, as the malina-agent package installs it (issue 13.3)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.lab.agenttrust import CA_FILE, ORIGINS_FILE, agent_trust_files, origin
from harness.lab.boardspec import board_spec
from harness.lab.model import Lab
from testkit.agent import AGENT_TREE

LIB = AGENT_TREE / "usr" / "lib" / "malina"


class _Run:
    def __init__(self, lab: Lab, workdir: Path) -> None:
        self.lab = lab
        self.workdir = workdir


def test_the_board_trusts_its_runs_backend_only(default_lab: Lab, tmp_path: Path) -> None:
    shifted = default_lab.shifted(2)  # a concurrent run's lab: the allowlist moves with it
    spec = board_spec(_Run(shifted, tmp_path), shifted.boards[0])
    text = spec.files[ORIGINS_FILE].decode()
    assert [line for line in text.splitlines() if not line.startswith("#")] == ["http://10.91.0.3:8080"]
    assert CA_FILE not in spec.files  # plain http lab: no CA
    assert agent_trust_files(default_lab, b"PEM")[CA_FILE] == b"PEM"


def test_same_origin_as_the_agent_computes(default_lab: Lab) -> None:
    url = f"{default_lab.services.backend.url}/v1/install/tok"
    agent = subprocess.run(["bash", "-c", f'. "{LIB}/common.sh"; . "{LIB}/trust.sh"; origin_of "$1"', "-", url],
                           capture_output=True, text=True, check=True).stdout
    assert agent == origin(url) == "http://10.89.0.3:8080"
    assert origin("https://files.lab/x") == "https://files.lab:443"
