"""Lab bring-up hygiene: labelled, internal networks; two runs at once; nothing left after failure or Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from harness.lab.docker_lab import RUN_LABEL, LabRun
from harness.lab.model import Lab

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parents[2]


def _leftovers(client: docker.DockerClient, run_id: str) -> list[str]:
    flt = {"label": f"{RUN_LABEL}={run_id}"}
    return [c.name for c in client.containers.list(all=True, filters=flt)] + [
        n.name for n in client.networks.list(filters=flt)
    ]


def test_networks_are_internal_labelled_and_removed(default_lab: Lab, docker_engine: docker.DockerClient) -> None:
    with LabRun(default_lab, services=("kea",), with_hook=False) as run:
        for net in run.networks.values():
            net.reload()
            assert net.attrs["Internal"] is True
            assert net.attrs["Labels"][RUN_LABEL] == run.run_id
        kea = run.container("kea")
        kea.reload()
        assert kea.labels[RUN_LABEL] == run.run_id
        # no route out: nothing but the lab's own subnets and docker's bridge address
        rc, out = run.exec("kea", ["ip", "route"])
        assert rc == 0
        assert str(run.lab.networks.server.subnet) in out  # the lab shifts when another run holds 10.89/16
    assert _leftovers(docker_engine, run.run_id) == []


def test_two_runs_at_once_do_not_collide(default_lab: Lab, docker_engine: docker.DockerClient) -> None:
    with LabRun(default_lab, services=("kea",), with_hook=False) as a, \
         LabRun(default_lab, services=("kea",), with_hook=False) as b:
        assert a.run_id != b.run_id
        assert a.lab.networks.server.subnet != b.lab.networks.server.subnet
        assert b.container("kea").name != a.container("kea").name
        for run in (a, b):
            run.container("kea").reload()
            assert run.container("kea").status == "running"
        # the same board in both runs: container names carry the run id (docker names are global)
        board = default_lab.boards[0].name
        names = [run.start_board(board).name for run in (a, b)]
        assert names[0] != names[1] and all(run.run_id in n for run, n in zip((a, b), names, strict=True))
    assert _leftovers(docker_engine, a.run_id) == [] and _leftovers(docker_engine, b.run_id) == []


def test_failure_inside_the_run_removes_everything(default_lab: Lab, docker_engine: docker.DockerClient) -> None:
    run = LabRun(default_lab, services=("kea",), with_hook=False)
    with pytest.raises(RuntimeError, match="boom"), run:
        raise RuntimeError("boom")
    assert _leftovers(docker_engine, run.run_id) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_removes_everything(sig: int, docker_engine: docker.DockerClient) -> None:
    code = (
        "import sys, time\n"
        "from harness.lab.docker_lab import LabRun\n"
        "from harness.lab.model import load_lab\n"
        "with LabRun(load_lab('lab.yaml'), services=('kea',), with_hook=False) as run:\n"
        "    print(run.run_id, flush=True)\n"
        "    time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert run_id, "the child did not bring the lab up"
    assert _leftovers(docker_engine, run_id), "the lab should be up before the signal"
    proc.send_signal(sig)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 10
    while _leftovers(docker_engine, run_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(docker_engine, run_id) == []
