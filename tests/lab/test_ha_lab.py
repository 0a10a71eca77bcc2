"""The Kea HA pair lab option (``services.kea.ha``): validation with file, line and field; the two servers'
Kea configs (checked by Kea's own parser); the relay, backend and container specs that follow from it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.lab.ha import free_server_address, with_kea_ha
from harness.lab.keaconfig import HOOK_PATH, dhcp4_config, ha_config
from harness.lab.model import Lab, parse_lab
from harness.lab.services import backend_spec, kea_spec, relay_config
from testkit.labtext import config_error, line_of

REPO = Path(__file__).resolve().parents[2]
TEXT = (REPO / "lab.yaml").read_text()
ANCHOR = "    cache_ttl_ms: 5000\n"


def _with_ha(block: str) -> str:
    assert ANCHOR in TEXT
    return TEXT.replace(ANCHOR, ANCHOR + "    ha:\n" + "".join(f"      {line}\n" for line in block.splitlines()))



def test_ha_block_loads_with_kea_defaults() -> None:
    lab = parse_lab(_with_ha("standby: 10.89.0.6"), "lab.yaml")
    ha = lab.services.kea.ha
    assert ha is not None and str(ha.standby) == "10.89.0.6" and ha.port == 8001
    assert (ha.heartbeat_delay_ms, ha.max_response_delay_ms, ha.max_ack_delay_ms) == (10_000, 60_000, 10_000)
    assert ha.max_unacked_clients == 0
    assert parse_lab(TEXT, "lab.yaml").services.kea.ha is None  # off unless asked for


@pytest.mark.parametrize(
    ("block", "where", "message"),
    [  # where: the text whose line the error names (a mapping's first key; None: a check across sections,
       # reported at the top of the file)
        ("standby: 10.77.0.6", None, "services.kea.ha.standby 10.77.0.6 is not in networks.server"),
        ("standby: 10.89.0.2", "address: 10.89.0.2", "services.kea: ha.standby 10.89.0.2 is the primary's address"),
        ("standby: 10.89.0.3", None, "services.kea.ha.standby 10.89.0.3 is services.backend's address"),
        ("standby: 10.89.0.6\nport: 8000", "address: 10.89.0.2",
         "services.kea: ha.port 8000 is the control agent's port"),
        ("standby: 10.89.0.6\nheartbeat_delay_ms: 5000\nmax_response_delay_ms: 5000", "      standby:",
         "services.kea.ha: max_response_delay_ms (5000) must be more than heartbeat_delay_ms (5000)"),
        ("standby: 10.89.0.6\nheartbeat_delay_ms: 70000", "70000",
         "services.kea.ha.heartbeat_delay_ms: Input should be less than or equal to 65535"),
        ("standby: 10.89.0.6\nmode: load-balancing", "load-balancing",
         "services.kea.ha.mode: Extra inputs are not permitted"),
        ("port: 8001", "      port: 8001", "services.kea.ha.standby: Field required"),
    ],
)
def test_bad_ha_settings_name_the_line_and_field(block: str, where: str | None, message: str) -> None:
    text = _with_ha(block)
    msg = config_error(text)
    line = line_of(text, where) if where is not None else text.splitlines().index("lab:") + 1
    prefix = f"lab.yaml:{line}: " + ("" if where is not None else "<top>: ")
    assert msg.startswith(prefix + message), msg


def test_with_kea_ha_derives_a_pair_from_the_default_lab(default_lab: Lab) -> None:
    lab = with_kea_ha(default_lab, name="sim-ha")
    assert lab.lab.name == "sim-ha" and lab.boards == default_lab.boards
    assert lab.services.kea.ha is not None and str(lab.services.kea.ha.standby) == "10.89.0.6"
    assert str(free_server_address(lab)) == "10.89.0.6"  # the standby is not a service: .6 counts as free
    assert relay_config(lab)["dhcp_server"] == ["10.89.0.2", "10.89.0.6"]
    assert relay_config(default_lab)["dhcp_server"] == "10.89.0.2"
    env = backend_spec(lab).env
    assert env["MALINA_KEA_CONTROL_URL"] == "http://10.89.0.2:8000/"
    assert env["MALINA_KEA_STANDBY_CONTROL_URL"] == "http://10.89.0.6:8000/"
    assert "MALINA_KEA_STANDBY_CONTROL_URL" not in backend_spec(default_lab).env
    moved = lab.shifted(2)  # a concurrent run moves the standby with every other address
    assert moved.services.kea.ha is not None and str(moved.services.kea.ha.standby) == "10.91.0.6"


def test_two_kea_specs_one_per_server(default_lab: Lab) -> None:
    lab = with_kea_ha(default_lab)
    primary, standby = kea_spec(lab), kea_spec(lab, standby=True)
    assert (primary.role, primary.networks) == ("kea", {"server": "10.89.0.2"})
    assert (standby.role, standby.networks) == ("kea-standby", {"server": "10.89.0.6"})
    names = [json.loads(spec.files["/etc/kea/kea-dhcp4.conf"])["Dhcp4"]["hooks-libraries"][1]["parameters"]
             ["high-availability"][0]["this-server-name"] for spec in (primary, standby)]
    assert names == ["primary", "standby"]
    with pytest.raises(ValueError, match=r"needs services\.kea\.ha"):
        kea_spec(default_lab, standby=True)


def test_ha_timing_is_scaled_by_the_time_factor(default_lab: Lab) -> None:
    assert default_lab.lab.time_factor == 0.05
    lab = with_kea_ha(default_lab)
    cfg = ha_config(lab, "standby")
    assert (cfg["heartbeat-delay"], cfg["max-response-delay"], cfg["max-ack-delay"]) == (500, 3000, 500)
    assert cfg["mode"] == "hot-standby" and cfg["max-unacked-clients"] == 0
    assert cfg["peers"] == [
        {"name": "primary", "url": "http://10.89.0.2:8001/", "role": "primary", "auto-failover": True},
        {"name": "standby", "url": "http://10.89.0.6:8001/", "role": "standby", "auto-failover": True},
    ]
    assert cfg["multi-threading"]["http-dedicated-listener"] is True  # not through kea-ctrl-agent
    real = Lab.model_validate({**lab.model_dump(mode="json"), "lab": {**lab.lab.model_dump(), "time_factor": 1.0}})
    assert ha_config(real, "primary")["heartbeat-delay"] == 10_000
    with pytest.raises(ValueError, match="no HA role"):
        ha_config(default_lab, "primary")


def test_hooks_load_lease_cmds_then_ha_then_ours(default_lab: Lab) -> None:
    hooks = dhcp4_config(with_kea_ha(default_lab), with_hook=True, ha_role="primary")["Dhcp4"]["hooks-libraries"]
    assert [h["library"].rsplit("/", 1)[1] for h in hooks] == [
        "libdhcp_lease_cmds.so", "libdhcp_ha.so", HOOK_PATH.rsplit("/", 1)[1]]
    assert [h["library"] for h in dhcp4_config(default_lab, with_hook=True)["Dhcp4"]["hooks-libraries"]] == [HOOK_PATH]


@pytest.mark.parametrize("role", ["primary", "standby"])
def test_kea_itself_accepts_both_servers_configs(default_lab: Lab, tmp_path: Path, role: str) -> None:
    """kea-dhcp4 -t checks the config with Kea's own parser and opens both ISC hooks (the host has Debian's Kea).
    Kea 2.2's config check does not run a hook's ``load``, so HA's own parameter checks run only in the docker
    lab (the HA scenario, scenarios/test_kea_ha.py)."""
    kea = shutil.which("kea-dhcp4") or "/usr/sbin/kea-dhcp4"
    host_version = subprocess.run([kea, "-V"], capture_output=True, text=True, timeout=30).stdout.split()[0]
    host_lab = default_lab.with_kea_version(".".join(host_version.split(".")[:2]))  # the host's Kea (2.2)
    cfg = dhcp4_config(with_kea_ha(host_lab), with_hook=False, ha_role=role)
    cfg["Dhcp4"]["control-socket"]["socket-name"] = str(tmp_path / "ctrl")
    path = tmp_path / "kea.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.run([kea, "-t", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "libdhcp_ha.so" in proc.stdout
    broken = json.loads(path.read_text())
    broken["Dhcp4"]["hooks-libraries"][1]["library"] += ".missing"
    path.write_text(json.dumps(broken))
    proc = subprocess.run([kea, "-t", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0  # the libraries are really opened: the check above can fail
