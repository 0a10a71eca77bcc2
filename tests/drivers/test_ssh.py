"""SshConnection against a real OpenSSH server started on 127.0.0.1 for the test (its own config, host key and
authorized key; nothing of the machine's own sshd is touched)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.drivers.base import CommandFailed, ProductFailure, SshError
from harness.drivers.ssh import SshConnection, ensure_keypair
from testkit.ports import free_port, wait_listening


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    key = tmp_path / "client" / "id_ed25519"
    pub = ensure_keypair(key)
    host_key = tmp_path / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    auth = tmp_path / "authorized_keys"
    auth.write_text(pub + "\n")
    auth.chmod(0o600)
    port = free_port()
    cfg = tmp_path / "sshd_config"
    cfg.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {auth}\n"
                   "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin yes\n"
                   f"PidFile {tmp_path}/sshd.pid\nStrictModes no\nSubsystem sftp internal-sftp\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg)], stderr=subprocess.PIPE)
    wait_listening(port, dead=lambda: None if proc.poll() is None else
                   (proc.stderr.read().decode(errors="replace") if proc.stderr else "sshd exited"))
    try:
        yield port, key
    finally:
        proc.terminate()
        proc.wait(10)


def test_run_and_read_file(sshd: tuple[int, Path], tmp_path: Path) -> None:
    port, key = sshd
    secret = tmp_path / "netplan.yaml"
    secret.write_text("network: {version: 2}\n")
    with SshConnection("127.0.0.1", "root", key, port=port).connect(10) as conn:
        res = conn.run("echo out; echo err >&2; exit 3")
        assert (res.exit_status, res.stdout, res.stderr, res.ok) == (3, "out\n", "err\n", False)
        assert conn.run("id -un").stdout.strip() == "root"
        assert conn.read_file(str(secret)) == b"network: {version: 2}\n"
        # the board answered: a missing or unreadable file is the installed system's fault, not the lab's
        with pytest.raises(ProductFailure, match="cannot read") as info:
            conn.read_file(str(tmp_path / "missing"))
        assert info.value.kind == "product" and not isinstance(info.value, SshError)
        with pytest.raises(ProductFailure, match="cannot read"):
            conn.read_file(str(tmp_path))  # a directory
        conn.close()
        with pytest.raises(SshError):  # no session at all: infrastructure
            conn.read_file(str(secret))


def test_run_checked_gives_stdout_or_raises_with_the_output(sshd: tuple[int, Path]) -> None:
    port, key = sshd
    with SshConnection("127.0.0.1", "root", key, port=port) as conn:  # entering connects
        assert conn.client is not None
        assert conn.run_checked("echo hi") == "hi\n"
        with pytest.raises(CommandFailed) as info:
            conn.run_checked("echo out; echo err >&2; exit 3")
        failed = info.value
        assert (failed.exit_status, failed.stdout, failed.stderr) == (3, "out\n", "err\n")
        assert failed.kind == "product" and "exited 3: err" in str(failed)
    assert conn.client is None  # leaving closes


def test_wrong_key_fails_within_the_timeout(sshd: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = sshd
    other = tmp_path / "other" / "id_ed25519"
    ensure_keypair(other)
    t0 = time.monotonic()
    with pytest.raises(SshError, match="a session not reached within"):
        SshConnection("127.0.0.1", "root", other, port=port).connect(2)
    assert time.monotonic() - t0 < 15


def test_nothing_listening_is_an_ssh_error() -> None:
    with pytest.raises(SshError) as info:
        SshConnection("127.0.0.1", "root", Path("/nonexistent/key"), port=free_port()).connect(1)
    assert info.value.kind == "infrastructure"


def test_ensure_keypair_is_stable(tmp_path: Path) -> None:
    a = ensure_keypair(tmp_path / "k")
    assert a.startswith("ssh-ed25519 ") and ensure_keypair(tmp_path / "k") == a
