"""The installer agent, run for real on the host: the unchanged overlay scripts against a card image file,
a stand-in backend and file server on 127.0.0.1. Every path of the issue: success (both boot layouts,
with and without bmap, xz and raw), hash mismatch, truncated download, backend unreachable, scenario for
another board, power cut mid-write (and the rerun), card too small."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.sim.media.osimage import MiB, OsImage, blank_card, read_rootfs_file, sha256_file
from testkit.agent import AGENT, INSTALLER, MAC, SERIAL, run_agent
from testkit.agent_backend import BackendStub, FileFault


def _card(env: dict[str, str], size: int = 80 * MiB, old: bytes = b"OLD-BOOTABLE-CARD" * 64) -> Path:
    card = Path(env["MALINA_DISK"])
    blank_card(card, size, fill=old)
    # An "old OS" MBR signature, so that tests can tell whether the head was touched.
    with card.open("r+b") as f:
        f.seek(510)
        f.write(b"\x55\xaa")
    return card


def _setup(backend: BackendStub, img: OsImage, *, compressed: bool = True, bmap: bool = False,
           fault: FileFault | None = None, **kw: str) -> None:
    src = img.path if compressed else img.raw
    url = backend.serve("image", src, fault)
    bmap_url = backend.serve("image.bmap", img.bmap) if bmap and img.bmap else None
    backend.set_scenario(image_url=url, sha256=img.sha256, size=img.size,
                         compression="xz" if src.suffix == ".xz" else "none", bmap_url=bmap_url, **kw)


def _assert_installed(card: Path, img: OsImage, backend: BackendStub) -> None:
    data = card.read_bytes()
    raw = img.raw.read_bytes()
    assert data[:MiB] == raw[:MiB]  # the head (MBR) was written, last
    assert data[img.boot_offset:img.root_offset] == raw[img.boot_offset:img.root_offset]
    res = backend.state.results
    assert [r["status"] for r in res] == ["success"], res
    assert res[0]["sha256"] == img.sha256
    assert res[0]["bytes_written"] == img.size
    phases = [p["phase"] for p in backend.state.progress]
    assert phases[0] == "netbooting" and phases[-1] == "configured" and "verifying" in phases


def _rootfs(card: Path, img: OsImage, path: str) -> bytes:
    return read_rootfs_file(card, img.root_offset, path)


def _unbootable(card: Path) -> bool:
    return card.read_bytes()[:512] == bytes(512)


@pytest.mark.parametrize("variant", ["xz", "raw", "xz+bmap"])
def test_install_plain_layout(backend: BackendStub, board: dict[str, str], plain_image: OsImage,
                              variant: str) -> None:
    card = _card(board)
    _setup(backend, plain_image, compressed=variant != "raw", bmap="bmap" in variant)
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 0, r.stderr
    _assert_installed(card, plain_image, backend)
    raw = plain_image.raw.read_bytes()
    data = card.read_bytes()
    if "bmap" not in variant:
        # Outside the rootfs the card equals the image byte for byte; the card's tail is untouched.
        assert data[: plain_image.root_offset] == raw[: plain_image.root_offset]
        assert data[plain_image.size:] == bytes(len(data) - plain_image.size)
    assert data[:MiB] == raw[:MiB]
    assert _rootfs(card, plain_image, "/etc/hostname") == b"pi-01\n"
    assert _rootfs(card, plain_image, "/etc/netplan/90-malina.yaml") == backend.state.netplan.encode()
    assert _rootfs(card, plain_image, "/etc/cloud/cloud.cfg.d/99-disable-network-config.cfg") == \
        b"network: {config: disabled}\n"
    keys = _rootfs(card, plain_image, "/home/ubuntu/.ssh/authorized_keys").decode()
    assert keys.strip() == backend.state.scenario["ssh_authorized_keys"][0]
    # the installed OS calls it as this board: the backend serves the token only to it
    assert _rootfs(card, plain_image, "/etc/malina/booted-url").decode().strip() == \
        f"{backend.url}/booted?serial={SERIAL}&mac={MAC}"
    unit = _rootfs(card, plain_image, "/etc/systemd/system/malina-booted.service").decode()
    assert "ConditionPathExists=/etc/malina/booted-url" in unit
    # The image's own files are still there.
    assert b"ID=ubuntu" in _rootfs(card, plain_image, "/etc/os-release")
    assert "INSTALL OK" in r.stderr


def test_every_call_carries_the_board_identity_and_a_serial_less_machine_installs(
        backend: BackendStub, board: dict[str, str], plain_image: OsImage) -> None:
    """The scenario of a machine defined without a serial has none until its board reports one (the backend
    records it on first contact): the agent sends its serial and MAC with every call, so it installs (issue 13;
    before, it fetched the scenario without them, got serial null and refused it)."""
    card = _card(board)
    _setup(backend, plain_image, compressed=True, bmap=False)
    backend.state.scenario["serial"] = None
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 0, r.stderr
    _assert_installed(card, plain_image, backend)
    assert backend.state.unidentified == []
    paths = {path for path, _, _ in backend.state.identities}
    assert {"/v1/install/tok", "/v1/install/tok/netplan", "/v1/install/tok/progress",
            "/v1/install/tok/result"} <= paths
    assert {(serial, mac) for _, serial, mac in backend.state.identities} == {(SERIAL, MAC)}
    assert "POST /v1/install/tok?" in "\n".join(backend.state.requests)  # the scenario is a POST


def test_progress_to_backend_and_console(backend: BackendStub, board: dict[str, str],
                                         plain_image: OsImage) -> None:
    _card(board)
    _setup(backend, plain_image, compressed=False, fault=FileFault(rate_bps=16 * MiB))
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 0, r.stderr
    writing = [p for p in backend.state.progress if p["phase"] == "writing"]
    assert len(writing) >= 2, backend.state.progress
    sizes = [p["bytes_written"] for p in writing]
    assert sizes == sorted(sizes) and 0 < sizes[-1] <= plain_image.size
    assert writing[0]["bytes_written"] == 0, "the write's start is reported before the first periodic report"
    assert all(p["bytes_total"] == plain_image.size and p["rate_bps"] > 0 for p in writing[1:])
    console = [line for line in r.stderr.splitlines() if line.startswith("malina: writing ")]
    assert any("MiB/s ETA" in line and "%" in line for line in console), r.stderr


def test_install_modes_and_owners(backend: BackendStub, board: dict[str, str], plain_image: OsImage) -> None:
    card = _card(board)
    _setup(backend, plain_image)
    assert run_agent(board, "install", "--url", backend.url).returncode == 0
    fs = f"{card}?offset={plain_image.root_offset}"

    def stat(path: str) -> str:
        out = subprocess.run(["debugfs", "-R", f"stat {path}", fs], capture_output=True, text=True,
                             env=dict(os.environ, DEBUGFS_PAGER="__none__"), check=True).stdout
        return " ".join(out.split())

    assert "Mode: 0600" in stat("/etc/netplan/90-malina.yaml")
    ssh = stat("/home/ubuntu/.ssh")
    assert "Type: directory" in ssh and "Mode: 0700" in ssh and "User: 1000 Group: 1000" in ssh
    assert "User: 1000" in stat("/home/ubuntu/.ssh/authorized_keys")
    link = stat("/etc/systemd/system/multi-user.target.wants/malina-booted.service")
    assert 'Fast link dest: "/etc/systemd/system/malina-booted.service"' in link
    fsck = subprocess.run(["e2fsck", "-fn", fs], capture_output=True, text=True, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_install_current_layout(backend: BackendStub, board: dict[str, str], current_image: OsImage) -> None:
    card = _card(board)
    _setup(backend, current_image, compressed=False, bmap=True)
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 0, r.stderr
    assert "boot layout: current/" in r.stderr
    _assert_installed(card, current_image, backend)
    assert _rootfs(card, current_image, "/etc/netplan/90-malina.yaml") == backend.state.netplan.encode()


def test_hash_mismatch_leaves_card_unbootable(backend: BackendStub, board: dict[str, str],
                                              plain_image: OsImage) -> None:
    card = _card(board)
    _setup(backend, plain_image, compressed=False, fault=FileFault(corrupt_at=plain_image.size // 2))
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 6, r.stderr
    assert _unbootable(card)
    res = backend.state.results
    assert len(res) == 1 and res[0]["status"] == "failure" and "sha256 mismatch" in res[0]["error"]
    assert res[0]["sha256"] not in ("", plain_image.sha256)


def test_truncated_download_leaves_card_unbootable(backend: BackendStub, board: dict[str, str],
                                                   plain_image: OsImage) -> None:
    card = _card(board)
    _setup(backend, plain_image, fault=FileFault(truncate_at=plain_image.path.stat().st_size // 2))
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 6, r.stderr
    assert _unbootable(card)
    res = backend.state.results
    assert len(res) == 1 and res[0]["status"] == "failure"
    assert "download failed" in res[0]["error"] or "short image" in res[0]["error"]


def test_truncated_raw_image_is_a_short_read(backend: BackendStub, board: dict[str, str],
                                              plain_image: OsImage) -> None:
    card = _card(board)
    _setup(backend, plain_image, compressed=False, fault=FileFault(truncate_at=plain_image.size - 4096))
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 6
    assert _unbootable(card)
    assert backend.state.results[0]["status"] == "failure"


def test_backend_unreachable_card_untouched(board: dict[str, str], tmp_path: Path) -> None:
    card = _card(board)
    before = sha256_file(card)
    with BackendStub() as dead:
        url = dead.url
    with open(board["MALINA_ORIGINS_FILE"], "a") as origins:  # a trusted backend that is down
        origins.write(dead.base + "\n")
    r = run_agent(board, "install", "--url", url)
    assert r.returncode == 4, r.stderr
    assert "backend unreachable" in r.stderr
    assert sha256_file(card) == before


def test_image_server_unreachable_card_untouched(backend: BackendStub, board: dict[str, str],
                                                 plain_image: OsImage) -> None:
    card = _card(board)
    before = sha256_file(card)
    backend.set_scenario(image_url="http://127.0.0.1:9/nothing.img.xz", sha256=plain_image.sha256,
                         size=plain_image.size, compression="xz")
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 5, r.stderr  # nothing was written
    assert sha256_file(card) == before
    assert backend.state.results[0]["status"] == "failure"


@pytest.mark.parametrize("field", ["serial", "mac"])
def test_scenario_for_another_board_refused(backend: BackendStub, board: dict[str, str],
                                            plain_image: OsImage, field: str) -> None:
    card = _card(board)
    before = sha256_file(card)
    other = {"serial": "deadbeef"} if field == "serial" else {"mac": "dc:a6:32:00:00:99"}
    _setup(backend, plain_image, **other)
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 5
    assert sha256_file(card) == before
    assert not any(q.startswith("GET /files/") for q in backend.state.requests)
    assert backend.state.results[0]["status"] == "failure" and field.upper() in \
        backend.state.results[0]["error"].upper()


def test_invalid_scenario_refused(backend: BackendStub, board: dict[str, str], plain_image: OsImage) -> None:
    card = _card(board)
    before = sha256_file(card)
    _setup(backend, plain_image)
    backend.state.scenario["image"]["sha256"] = "xyz"
    backend.state.scenario["hostname"] = "bad host;name"
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 5
    assert sha256_file(card) == before
    err = backend.state.results[0]["error"]
    assert "image.sha256" in err and "hostname" in err


def test_card_too_small_refused_before_writing(backend: BackendStub, board: dict[str, str],
                                               plain_image: OsImage) -> None:
    card = _card(board, size=plain_image.size - MiB)
    before = sha256_file(card)
    _setup(backend, plain_image)
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 5, r.stderr  # "nothing written", not "card left unbootable"
    assert sha256_file(card) == before
    assert "card too small" in backend.state.results[0]["error"]
    assert "card is not touched" in backend.state.results[0]["error"]
    assert not any(q.startswith("GET /files/image ") or q == "GET /files/image"
                   for q in backend.state.requests)


@pytest.mark.parametrize("bmap", [False, True])
def test_power_cut_mid_write_then_rerun(backend: BackendStub, board: dict[str, str], plain_image: OsImage,
                                        bmap: bool) -> None:
    card = _card(board)
    rate = 8 * MiB  # the raw image takes several seconds: time to cut the power mid-stream
    _setup(backend, plain_image, compressed=False, bmap=bmap, fault=FileFault(rate_bps=rate))
    proc = subprocess.Popen([str(AGENT), "install", "--url", backend.url], env=board, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p["phase"] == "writing" and p["bytes_written"] >= 16 * MiB for p in backend.state.progress):
            break
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    else:
        pytest.fail("the agent never reported writing progress")
    os.killpg(proc.pid, signal.SIGKILL)  # the power cut: every process of the agent dies at once
    proc.wait(timeout=10)
    assert _unbootable(card), "an interrupted write must leave a card that does not boot"
    assert backend.state.results == []
    # The next boot installs again.
    backend.state.faults.clear()
    r = run_agent(board, "install", "--url", backend.url)
    assert r.returncode == 0, r.stderr
    assert backend.state.results[-1]["status"] == "success"
    assert card.read_bytes()[:MiB] == plain_image.raw.read_bytes()[:MiB]
    assert _rootfs(card, plain_image, "/etc/hostname") == b"pi-01\n"


def test_installer_entry_point_uses_udhcpc_lease_and_reboots(backend: BackendStub, board: dict[str, str],
                                                             plain_image: OsImage, tmp_path: Path) -> None:
    """malina-installer: option 224 from the udhcpc script's env file, agent, then the reboot command."""
    _card(board)
    _setup(backend, plain_image)
    env_file = tmp_path / "dhcp.env"
    script = AGENT.parents[2] / "usr" / "share" / "udhcpc" / "malina.script"
    env = dict(board, MALINA_DHCP_ENV=str(env_file), MALINA_DHCP_CONFIGURE="0", interface="malina-test0",
               ip="10.90.1.100", mask="24", router="10.90.1.1", opt224=backend.url.encode().hex().upper())
    subprocess.run([str(script), "bound"], env=env, check=True, capture_output=True)
    env = dict(board, MALINA_DHCP_ENV=str(env_file))
    r = subprocess.run([str(INSTALLER)], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rebooted").exists()
    assert backend.state.results[-1]["status"] == "success"


def test_installer_without_option_224_does_nothing(board: dict[str, str], tmp_path: Path) -> None:
    card = _card(board)
    before = sha256_file(card)
    env = dict(board, MALINA_DHCP_CLIENT="dhtest", MALINA_DHCP_ENV=str(tmp_path / "none.env"),
               MALINA_DHCP_RETRY_PAUSE="0", PATH="/usr/bin:/bin")
    r = subprocess.run([str(INSTALLER)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 3
    assert "no option 224 (install URL) from DHCP in 3 tries" in r.stderr, r.stderr
    assert r.stderr.count("no option 224 in DHCP try") == 2, r.stderr
    assert not (tmp_path / "rebooted").exists()
    assert sha256_file(card) == before


FAKE_DHTEST = """#!/bin/bash
# a DHCP client whose first lease lacks option 224 (the hook's failure policy), the next carries it
n=$(( $(cat "$COUNT" 2>/dev/null || echo 0) + 1 )); echo "$n" >"$COUNT"
if (( n == 1 )); then echo '{"result-data":"0a 00 00 05","result-option-no":"66"}'
else echo "{\\"result-data\\":\\"$URL_HEX\\",\\"result-option-no\\":\\"224\\"}"; fi
"""


def test_installer_asks_again_when_a_lease_lacks_option_224(board: dict[str, str], backend: BackendStub,
                                                           plain_image: OsImage, tmp_path: Path) -> None:
    """A lease without option 224 (the backend was slow and the hook answered by its failure policy) is asked
    again; the second lease's URL installs."""
    _card(board)
    _setup(backend, plain_image)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dhtest").write_text(FAKE_DHTEST)
    (bindir / "dhtest").chmod(0o755)
    env = dict(board, MALINA_DHCP_CLIENT="dhtest", MALINA_DHCP_ENV=str(tmp_path / "dhcp.env"),
               MALINA_DHCP_RETRY_PAUSE="0", COUNT=str(tmp_path / "count"),
               URL_HEX=backend.url.encode().hex(), PATH=f"{bindir}:{os.environ['PATH']}")
    r = subprocess.run([str(INSTALLER)], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "no option 224 in DHCP try 1 of 3" in r.stderr, r.stderr
    assert (tmp_path / "count").read_text().strip() == "2"
    assert backend.state.results[-1]["status"] == "success"


def test_write_subcommand_matches_image(board: dict[str, str], backend: BackendStub,
                                        plain_image: OsImage) -> None:
    card = _card(board)
    url = backend.serve("image", plain_image.path)
    r = run_agent(board, "write", "--url", url, "--sha256", plain_image.sha256, "--size",
                  str(plain_image.size), "--compression", "xz")
    assert r.returncode == 0, r.stderr
    assert card.read_bytes()[: plain_image.size] == plain_image.raw.read_bytes()
    assert SERIAL and MAC  # identity is not checked by the bare write
