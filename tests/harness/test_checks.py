"""The scenarios' TFTP check: the server's transfer log when the lab has one (the sim: the log check must run),
else the files read back over TFTP (a rack's tftpd-hpa); each way fails on a tree that was not served."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.drivers.tftp import DirTftp
from harness.lab.model import load_lab
from harness.session import Session, Target
from scenarios.checks import assert_tree_served
from testkit.ports import free_port

REPO = Path(__file__).resolve().parents[2]
NAMES = ("start4.elf", "config.txt")


class LocalSession(Session):
    def __init__(self, tftp: DirTftp) -> None:
        super().__init__(say=lambda line: None)
        lab = load_lab(REPO / "lab.yaml")
        # the lab's TFTP server is this host's loopback for the test
        tftp_svc = lab.services.tftp.model_copy(update={"address": "127.0.0.1"})
        self.lab = lab.model_copy(update={"services": lab.services.model_copy(update={"tftp": tftp_svc})})
        self.tftp = tftp


def _target(session: Session) -> Target:
    return Target(session.lab.boards[0], session.lab, None, None, Path("/k"))  # type: ignore[arg-type]


def test_the_log_is_checked_when_there_is_one(tmp_path: Path) -> None:
    lines: list[str] = []
    session = LocalSession(DirTftp(tmp_path, lambda: "\n".join(lines)))
    t = _target(session)
    serial = t.board.serial
    started = session.tftp.served()
    lines.append(json.dumps({"event": "complete", "ts": 1.0, "path": f"{serial}/start4.elf"}))
    with pytest.raises(AssertionError, match=r"config\.txt"):
        assert_tree_served(session, t, NAMES, started)  # a log without config.txt: the check fails
    lines.append(json.dumps({"event": "complete", "ts": 2.0, "path": f"{serial}/config.txt"}))
    assert_tree_served(session, t, NAMES, started)


@pytest.fixture
def tftp_server(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    root = tmp_path / "tftp"
    root.mkdir()
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen([sys.executable, "-m", "harness.sim.tftpserver", "--root", str(root), "--log",
                             str(tmp_path / "ignored.jsonl"), "--host", "127.0.0.1", "--port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        yield root, port
    finally:
        proc.terminate()
        proc.wait(10)


def test_without_a_log_the_files_are_read_back(tftp_server: tuple[Path, int], tmp_path: Path) -> None:
    root, port = tftp_server
    session = LocalSession(DirTftp(root, None))  # like tftpd-hpa: no transfer log
    assert not session.tftp.logged and session.tftp.served() == []
    t = _target(session)
    tree = {"start4.elf": b"\x7fELF" * 300, "config.txt": b"enable_uart=1\n"}
    session.tftp.stage(t.board.serial, tree)
    assert_tree_served(session, t, NAMES, [], port=port)
    # this host's view of the root says something else than the server serves: the check fails
    elsewhere = LocalSession(DirTftp(tmp_path / "other-view", None))
    elsewhere.tftp.stage(t.board.serial, {**tree, "config.txt": b"enable_uart=0\n"})
    with pytest.raises(AssertionError, match="does not serve"):
        assert_tree_served(elsewhere, t, NAMES, [], port=port)
