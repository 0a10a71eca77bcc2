"""The installer agent as tests and benchmarks run it on the host: where the unchanged shell agent lives in the
Buildroot tree (the malina-agent package's source), the identity of the test board, and a runner."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILDROOT = REPO / "buildroot"
OVERLAY = BUILDROOT / "board" / "malina" / "rootfs-overlay"
# The malina-agent package's source, laid out as installed on the target (and in the simulated board).
AGENT_TREE = BUILDROOT / "agent"
AGENT = AGENT_TREE / "usr" / "bin" / "malina-agent"
INSTALLER = AGENT_TREE / "usr" / "bin" / "malina-installer"
SERIAL = "6e87a417"  # the test board's serial number (as /proc/device-tree/serial-number holds it)
MAC = "dc:a6:32:00:00:01"


def run_agent(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``malina-agent ARGS`` with exactly this environment (no ``check``: tests assert on the return code)."""
    return subprocess.run([str(AGENT), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
