"""DirTftp: atomic per-board trees served by the lab's real TFTP server (harness.sim.tftpserver, tftpy) on
127.0.0.1; the stand-in tree has post-image's layout."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tftpy

from harness.drivers.tftp import DirTftp
from harness.sim.media.tftptree import BOARD_DIR, standin_tree
from testkit.ports import free_port

REPO = Path(__file__).resolve().parents[2]
SERIAL = "6e87a417"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[DirTftp, int]]:
    root = tmp_path / "tftp"
    root.mkdir()
    log = tmp_path / "tftp.jsonl"
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen([sys.executable, "-m", "harness.sim.tftpserver", "--root", str(root), "--log", str(log),
                             "--host", "127.0.0.1", "--port", str(port)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        yield DirTftp(root, lambda: log.read_text() if log.exists() else ""), port
    finally:
        proc.terminate()
        proc.wait(10)


def test_standin_tree_has_the_post_image_layout() -> None:
    tree = standin_tree({"progress_interval": "1"})
    script = (BOARD_DIR / "post-image.sh").read_text()
    for name in ("start4.elf", "fixup4.dat", "config.txt", "cmdline.txt", "kernel8.img", "bcm2711-rpi-4-b.dtb",
                 "initramfs.cpio.gz", "SHA256SUMS"):
        assert name in tree and (name in script or name == "SHA256SUMS"), name
    assert b"enable_uart=1" in tree["config.txt"] and b"uart_2ndstage=1" in tree["config.txt"]
    assert b"console=serial0,115200" in tree["cmdline.txt"]
    assert tree["cmdline.txt"].split()[-1] == b"malina.progress_interval=1"
    for line in tree["SHA256SUMS"].decode().splitlines():
        digest, name = line.split()
        assert hashlib.sha256(tree[name]).hexdigest() == digest


def test_stage_serve_verify_and_log(server: tuple[DirTftp, int]) -> None:
    tftp, port = server
    tree = standin_tree()
    t0 = time.time()
    tftp.stage(SERIAL, tree)
    assert tftp.verify("127.0.0.1", SERIAL, tree, port=port) == []
    wrong = {**tree, "cmdline.txt": b"something else\n"}
    bad = tftp.verify("127.0.0.1", SERIAL, wrong, port=port)
    assert len(bad) == 1 and "cmdline.txt" in bad[0]
    deadline = time.monotonic() + 5.0
    while True:  # the server logs a transfer when the last ACK arrives, possibly after the client returned
        served = tftp.served(t0)
        done = {e["path"] for e in served if e["event"] == "complete"}
        if len(done) >= len(tree) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert f"{SERIAL}/kernel8.img" in done and len(done) == len(tree), sorted(done)
    missing = tftp.verify("127.0.0.1", "00000000", {"start4.elf": b"x"}, port=port)
    assert len(missing) == 1
    assert any(e["event"] == "error" and e.get("outcome") == "not_found" for e in tftp.served(t0))


def test_restage_is_atomic_for_readers(server: tuple[DirTftp, int], tmp_path: Path) -> None:
    tftp, port = server
    versions = [{"kernel8.img": bytes([v]) * 200_000, "config.txt": f"v{v}\n".encode()} for v in range(2)]
    tftp.stage(SERIAL, versions[0])
    stop = threading.Event()
    seen: list[bytes] = []
    errors: list[str] = []

    def reader() -> None:
        client = tftpy.TftpClient("127.0.0.1", port, options={"blksize": 1468})
        out = tmp_path / "k"
        while not stop.is_set():
            try:
                client.download(f"{SERIAL}/kernel8.img", str(out), timeout=2, retries=1)
                seen.append(out.read_bytes())
            except tftpy.TftpException as exc:
                errors.append(str(exc))

    t = threading.Thread(target=reader)
    t.start()
    for i in range(12):
        tftp.stage(SERIAL, versions[i % 2])
        time.sleep(0.05)
    stop.set()
    t.join(30)
    assert seen and not errors, errors[:3]
    assert all(s in (versions[0]["kernel8.img"], versions[1]["kernel8.img"]) for s in seen)
    trees = list((tftp.root / ".trees").iterdir())
    assert len(trees) == 1, trees  # old trees are cleaned up after each swap


def test_stage_refuses_bad_names(tmp_path: Path) -> None:
    tftp = DirTftp(tmp_path, lambda: "")
    for bad in ("", "../x", ".trees"):
        with pytest.raises(ValueError):
            tftp.stage(bad, {"a": b"b"})
    with pytest.raises(ValueError, match="escapes"):
        tftp.stage(SERIAL, {"../../etc/passwd": b"x"})
