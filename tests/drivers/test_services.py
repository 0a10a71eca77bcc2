"""The backend driver against a real backend process on 127.0.0.1, and the Kea driver against the lab's real
Kea container (kea-dhcp4 + kea-ctrl-agent)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.drivers.backend import HttpBackend, machines_for_lab
from harness.drivers.base import BackendError, InfraFailure, ProductFailure
from harness.drivers.kea import AgentKea, DockerKea
from harness.lab.docker_lab import LabRun
from harness.lab.model import Lab
from testkit.ports import free_port

READER, WRITER = "reader-token-0123456789abcdef0123456", "writer-token-0123456789abcdef0123456"

REPO = Path(__file__).resolve().parents[2]
IMAGE = {"url": "http://10.89.0.5:8081/ubuntu.img.xz", "sha256": "ab" * 32, "size": 1 << 20, "compression": "xz"}


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[HttpBackend]:
    port = free_port()
    env = {**os.environ, "MALINA_DB_URL": f"sqlite:///{tmp_path}/db.sqlite",
           "MALINA_PUBLIC_URL": f"http://127.0.0.1:{port}", "MALINA_TFTP_SERVER": "10.89.0.4",
           "MALINA_ADMIN_READ_TOKEN": READER, "MALINA_ADMIN_WRITE_TOKEN": WRITER}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "backend", "serve", "--host", "127.0.0.1", "--port",
                             str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b = HttpBackend(f"http://127.0.0.1:{port}", READER, WRITER)
    try:
        b.wait_healthy(30)
        yield b
    finally:
        proc.terminate()
        proc.wait(10)
        b.close()


def test_backend_admin_round_trip(backend: HttpBackend, default_lab: Lab) -> None:
    machines = machines_for_lab(default_lab, default_lab.boards[:2], IMAGE, ["ssh-ed25519 AAAAC3Nza test"])
    assert [m["name"] for m in machines] == ["pi-01", "pi-02"]
    assert machines[1]["sub82_9"] == "00000de90401aa"  # port2's vendor-specific sub-option
    backend.import_machines(machines)
    m = backend.machine("pi-01")
    assert m["boot_mode"] == "install" and m["install"]["ssh_authorized_keys"] == ["ssh-ed25519 AAAAC3Nza test"]
    assert backend.install_state("pi-01") is None
    assert backend.set_local("pi-01")["machine"]["boot_mode"] == "local"
    assert backend.reinstall("pi-01")["machine"]["boot_mode"] == "install"
    changed = {**machines[0], "install": {**machines[0]["install"], "hostname": "renamed"}}
    assert backend.put_machine(changed)["install"]["hostname"] == "renamed"
    kinds = [e["kind"] for e in backend.history("pi-01")["events"]]
    assert kinds[0] == "added" and "redefined" in kinds
    assert {x["name"] for x in backend.machines()} == {"pi-01", "pi-02"}
    # the backend answers, the machine is not there yet: the product's failure, not the lab's
    with pytest.raises(ProductFailure, match=r"install state") as info:
        backend.wait_state("pi-01", {"booted-ok"}, timeout=0.5)
    assert info.value.kind == "product" and not isinstance(info.value, BackendError)
    with pytest.raises(BackendError, match="HTTP 404"):
        backend.machine("nope")
    bad = HttpBackend(backend.url, "wrong-token", "wrong-token")
    with pytest.raises(BackendError, match=r"HTTP 40[13]"):
        bad.machines()


def test_backend_down_is_an_infrastructure_error() -> None:
    b = HttpBackend(f"http://127.0.0.1:{free_port()}", "r" * 8, "w" * 8, timeout_s=1)
    assert b.health() is False
    with pytest.raises(BackendError) as info:
        b.machines()
    assert info.value.kind == "infrastructure"


@pytest.mark.docker
def test_kea_driver_on_the_lab_kea(docker_engine: Any, default_lab: Lab) -> None:
    with LabRun(default_lab, services=("kea",)) as run:
        k = run.lab.services.kea
        kea = DockerKea(run.container("kea"), f"http://{k.address}:{k.control_port}/")
        kea.wait_ready(30)
        status = kea.command("status-get")
        assert status["result"] == 0 and "pid" in status["arguments"]
        config = kea.command("config-get")["arguments"]
        hooks = [h["library"] for h in config["Dhcp4"]["hooks-libraries"]]
        assert any("remote_options" in h for h in hooks)
        kea.reload()
        with pytest.raises(ProductFailure, match="Kea refused"):
            kea.command("no-such-command")
        assert "DHCP4_STARTED" in kea.log() or "DHCPSRV" in kea.log()
        kea.stop()
        with pytest.raises(InfraFailure):
            AgentKea(kea.control_url, timeout_s=1).command("status-get")
        kea.after_start = run.reroute
        kea.start()
        assert kea.command("status-get")["result"] == 0


def test_agent_kea_is_not_managed() -> None:
    kea = AgentKea("http://127.0.0.1:9/")
    with pytest.raises(InfraFailure, match="not managed"):
        kea.start()
    assert kea.log() == ""
