"""The Kea configuration generated from lab.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from harness.lab.keaconfig import HOOK_PATH, dhcp4_config
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
    """kea-dhcp4 -t checks the generated file with Kea's own parser (the host has Debian's Kea)."""
    kea = shutil.which("kea-dhcp4") or "/usr/sbin/kea-dhcp4"
    cfg = dhcp4_config(default_lab, with_hook=False)
    cfg["Dhcp4"]["control-socket"]["socket-name"] = str(tmp_path / "ctrl")
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.run([kea, "-t", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
