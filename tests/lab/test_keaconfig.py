"""The Kea configuration generated from lab.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import cast

import docker
import pytest
from docker.errors import ContainerError

from harness.lab import images as lab_images
from harness.lab import services
from harness.lab.keaconfig import HOOK_PATH, ctrl_agent_config, dhcp4_config
from harness.lab.keaversions import KEA_VERSIONS
from harness.lab.model import Lab


def test_one_subnet_per_port_selected_by_relay(default_lab: Lab) -> None:
    cfg = dhcp4_config(default_lab, with_hook=True)["Dhcp4"]
    subnets = cfg["subnet4"]
    assert [s["subnet"] for s in subnets] == [str(p.subnet) for p in default_lab.switch.ports]
    first = subnets[0]
    assert first["relay"] == {"ip-addresses": ["10.90.1.1"]}
    assert first["pools"] == [{"pool": "10.90.1.100 - 10.90.1.199"}]
    hook = cfg["hooks-libraries"][0]
    assert hook["library"] == HOOK_PATH
    assert hook["parameters"]["url"] == "http://10.89.0.3:8080/v1/dhcp/options"
    assert hook["parameters"]["failure-policy"] == "boot-local"
    assert {"name": "malina-install-url", "code": 224, "type": "string", "space": "dhcp4"} in cfg["option-def"]


def test_without_hook_has_no_hooks_libraries(default_lab: Lab) -> None:
    assert "hooks-libraries" not in dhcp4_config(default_lab, with_hook=False)["Dhcp4"]


def test_kea_itself_accepts_the_config(default_lab: Lab, tmp_path: Path) -> None:
    """kea-dhcp4 -t checks the generated file with Kea's own parser (the host has Debian 12's Kea 2.2: the
    config of that release; every release's own check runs in its image below)."""
    kea = shutil.which("kea-dhcp4") or "/usr/sbin/kea-dhcp4"
    host_version = subprocess.run([kea, "-V"], capture_output=True, text=True, timeout=30).stdout.split()[0]
    cfg = dhcp4_config(default_lab.with_kea_version(".".join(host_version.split(".")[:2])), with_hook=False)
    cfg["Dhcp4"]["control-socket"]["socket-name"] = str(tmp_path / "ctrl")
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.run([kea, "-t", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_control_api_per_release(default_lab: Lab) -> None:
    """Kea 2.x: a UNIX socket that kea-ctrl-agent serves on control_port; Kea 3.0: kea-dhcp4's own HTTP socket
    on that port and no agent in the container. The logger option is spelled as each release wants it."""
    port = default_lab.services.kea.control_port
    for version in KEA_VERSIONS:
        lab = default_lab.with_kea_version(version)
        cfg = dhcp4_config(lab, with_hook=True)["Dhcp4"]
        spec = services.kea_spec(lab)
        assert spec.image == f"kea-hook-{version}"
        assert cfg["hooks-libraries"][0]["library"] == HOOK_PATH
        logger_keys = set(cfg["loggers"][0]) - {"name", "severity"}
        assert logger_keys == {"output_options" if version == "2.2" else "output-options"}, version
        if version == "3.0":
            assert "control-socket" not in cfg
            assert cfg["control-sockets"] == [{"socket-type": "http", "socket-address": "0.0.0.0",
                                               "socket-port": port}]
            assert "kea-ctrl-agent" not in spec.command[-1] and "/etc/kea/kea-ctrl-agent.conf" not in spec.files
        else:
            assert "control-sockets" not in cfg and cfg["control-socket"]["socket-type"] == "unix"
            assert "kea-ctrl-agent -c" in spec.command[-1]
            assert json.loads(spec.files["/etc/kea/kea-ctrl-agent.conf"])["Control-agent"]["http-port"] == port


@pytest.mark.docker
@pytest.mark.parametrize("version", KEA_VERSIONS)
def test_each_release_accepts_its_config(default_lab: Lab, docker_engine: object, version: str) -> None:
    """Each release's kea-dhcp4 -t (and kea-ctrl-agent -t on 2.x) in its own image accepts the generated files:
    the hook path inside Kea's hooks directory, the control socket, the logger spelling."""
    lab = default_lab.with_kea_version(version)
    client = cast(docker.DockerClient, docker_engine)
    tag = lab_images.ensure_image(client, f"kea-hook-{version}")
    checks = {"kea-dhcp4": dhcp4_config(lab, with_hook=True)}
    if version != "3.0":
        checks["kea-ctrl-agent"] = ctrl_agent_config(lab)
    for daemon, config in checks.items():
        script = f'printf %s "$CONFIG" > /tmp/check.json && {daemon} -t /tmp/check.json'
        try:
            client.containers.run(tag, ["sh", "-c", script], environment={"CONFIG": json.dumps(config)},
                                  network_disabled=True, remove=True, stdout=True, stderr=True)
        except ContainerError as exc:
            pytest.fail(f"Kea {version}: {daemon} -t refused the generated config: {exc.stderr!r}")
