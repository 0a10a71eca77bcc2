"""How the agent finds its parameters and option 224: agent.conf, the kernel command line, the
environment, the udhcpc script's env file, systemd-networkd lease files (old env-style and current JSON)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from testkit.agent import AGENT, AGENT_TREE, run_agent

SCRIPT = AGENT_TREE / "usr" / "share" / "udhcpc" / "malina.script"
URL = "http://10.89.0.3:8080/v1/install/abc123"


def _hex(s: str) -> str:
    return s.encode().hex()


def test_udhcpc_script_writes_option_224(board: dict[str, str], tmp_path: Path) -> None:
    env_file = tmp_path / "run" / "dhcp.env"
    env = dict(board, MALINA_DHCP_ENV=str(env_file), MALINA_DHCP_CONFIGURE="0", interface="eth0",
               ip="10.90.1.100", mask="24", router="10.90.1.1", dns="10.89.0.3", serverid="10.89.0.2",
               opt224=_hex(URL).upper())
    subprocess.run([str(SCRIPT), "bound"], env=env, check=True, capture_output=True)
    lines = dict(ln.split("=", 1) for ln in env_file.read_text().splitlines())
    assert lines["ip"] == "10.90.1.100" and lines["router"] == "10.90.1.1"
    assert lines["opt224"] == _hex(URL).upper()
    r = run_agent(dict(board, MALINA_DHCP_ENV=str(env_file)), "url")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == URL
    # deconfig forgets the lease
    subprocess.run([str(SCRIPT), "deconfig"], env=env, check=True, capture_output=True)
    assert not env_file.exists()


def test_udhcpc_script_sanitises_values(board: dict[str, str], tmp_path: Path) -> None:
    env_file = tmp_path / "dhcp.env"
    env = dict(board, MALINA_DHCP_ENV=str(env_file), MALINA_DHCP_CONFIGURE="0", interface="eth0;rm -rf",
               ip="10.0.0.1$(id)", mask="24", opt224="68zz74\nevil=1")
    subprocess.run([str(SCRIPT), "bound"], env=env, check=True, capture_output=True)
    text = env_file.read_text()
    assert "$(" not in text and ";" not in text and "evil" not in text
    assert len(text.splitlines()) == 8  # ... opt224, ntpsrv (option 42: the clock before TLS)


def test_networkd_lease_env_style(board: dict[str, str], tmp_path: Path) -> None:
    lease = tmp_path / "lease"
    lease.write_text(f"# This is private data. Do not parse.\nADDRESS=10.90.1.100\nOPTION_224={_hex(URL)}\n")
    r = run_agent(dict(board, MALINA_LEASE_FILE=str(lease)), "url")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == URL


def test_networkd_lease_json(board: dict[str, str], tmp_path: Path) -> None:
    lease = tmp_path / "lease.json"
    lease.write_text(json.dumps({"Address": [10, 90, 1, 100], "Private_Options": [
        {"Option": 225, "Data": _hex("other")}, {"Option": 224, "Data": _hex(URL)}]}))
    r = run_agent(dict(board, MALINA_LEASE_FILE=str(lease)), "url")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == URL


def test_no_option_224(board: dict[str, str]) -> None:
    r = run_agent(board, "url")
    assert r.returncode != 0
    assert "no install URL" in r.stderr


def test_option_224_must_be_http(board: dict[str, str], tmp_path: Path) -> None:
    lease = tmp_path / "lease"
    lease.write_text(f"OPTION_224={_hex('file:///etc/shadow')}\n")
    r = run_agent(dict(board, MALINA_LEASE_FILE=str(lease)), "url")
    assert r.returncode != 0


def test_precedence_conf_cmdline_env(board: dict[str, str], tmp_path: Path) -> None:
    conf = Path(board["MALINA_CONF"])
    conf.write_text('MALINA_URL="http://conf.example/v1/install/a"\n# comment\nMALINA_BOGUS=1\n')
    r = run_agent(board, "url")
    assert r.stdout.strip() == "http://conf.example/v1/install/a"
    assert "unknown setting MALINA_BOGUS" in r.stderr
    cmdline = Path(board["MALINA_CMDLINE_FILE"])
    cmdline.write_text("quiet malina.url=http://cmdline.example/v1/install/b x=1\n")
    r = run_agent(board, "url")
    assert r.stdout.strip() == "http://cmdline.example/v1/install/b"
    r = run_agent(dict(board, MALINA_URL="http://env.example/v1/install/c"), "url")
    assert r.stdout.strip() == "http://env.example/v1/install/c"


def test_bad_setting_is_a_clear_error(board: dict[str, str]) -> None:
    r = run_agent(dict(board, MALINA_PROGRESS_INTERVAL="soon"), "url")
    assert r.returncode != 0
    assert "MALINA_PROGRESS_INTERVAL must be a non-negative integer" in r.stderr


def test_serial_from_cpuinfo_fallback(board: dict[str, str], tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nHardware\t: BCM2835\nSerial\t\t: 100000006E87A417\nModel\t: Pi 4\n")
    env = dict(board, MALINA_SERIAL_FILE="/nonexistent", MALINA_CPUINFO_FILE=str(cpuinfo))
    script = ('. "$MALINA_LIB/common.sh"; malina_load_config; board_serial')
    r = subprocess.run(["bash", "-c", script], env=dict(env, MALINA_LIB=str(AGENT_TREE / "usr/lib/malina")),
                       capture_output=True, text=True, check=True)
    assert r.stdout == "6e87a417"


def test_cmdline_words_are_never_globbed(board: dict[str, str], tmp_path: Path) -> None:
    """A "*" on the kernel command line stays a word: it must not expand to the names of files in the
    working directory (a file named like a setting would inject it)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "malina.progress_interval=bogus").touch()
    Path(board["MALINA_CMDLINE_FILE"]).write_text(f"console=serial0,115200 * quiet\nmalina.url={URL}\n")
    r = subprocess.run([str(AGENT), "url"], env=board, cwd=cwd,
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == URL
