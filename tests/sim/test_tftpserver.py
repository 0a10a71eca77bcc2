"""harness.sim.tftpserver as a real process on 127.0.0.1: tftpy's client and raw UDP packets against it."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tftpy

REPO = Path(__file__).resolve().parents[2]
BIG = bytes((i * 7 + i // 251) % 256 for i in range(300_000))


@dataclass
class Server:
    port: int
    root: Path
    log: Path

    def events(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def wait_for(self, pred: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events() if e["event"] == pred]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "tftp"
    (root / "6e87a417").mkdir(parents=True)
    (root / "6e87a417" / "start4.elf").write_bytes(BIG)
    (root / "config.txt").write_bytes(b"[all]\nenable_uart=1\n")
    (root / "empty.bin").write_bytes(b"")
    (root / "exact1024.bin").write_bytes(b"x" * 1024)
    port = free_udp_port()
    log = tmp_path / "logs" / "tftp.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.sim.tftpserver", "--root", str(root), "--log", str(log),
         "--port", str(port), "--host", "127.0.0.1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ),
    )
    srv = Server(port, root, log)
    try:
        assert srv.wait_for("ready"), "server did not start"
        time.sleep(0.2)  # the socket is bound right after the ready line
        yield srv
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode is not None


def rrq(name: str, options: dict[str, str]) -> bytes:
    body = name.encode() + b"\0octet\0" + b"".join(k.encode() + b"\0" + v.encode() + b"\0"
                                                    for k, v in options.items())
    return struct.pack("!H", 1) + body


def parse_oack(packet: bytes) -> dict[str, str]:
    assert struct.unpack("!H", packet[:2])[0] == 6, f"expected OACK, got {packet[:4]!r}"
    fields = packet[2:].split(b"\0")[:-1]
    return {fields[i].decode(): fields[i + 1].decode() for i in range(0, len(fields), 2)}


def client_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.bind(("127.0.0.1", 0))
    return s


def download(port: int, name: str, dest: Path, blksize: int) -> bytes:
    client = tftpy.TftpClient("127.0.0.1", port, options={"blksize": blksize, "tsize": 0})
    client.download(name, str(dest), timeout=5)
    return dest.read_bytes()


@pytest.mark.parametrize("blksize", [512, 1024, 1468])
def test_download_with_blksize_and_tsize(server: Server, tmp_path: Path, blksize: int) -> None:
    data = download(server.port, "6e87a417/start4.elf", tmp_path / "out.elf", blksize)
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(BIG).hexdigest()
    done = server.wait_for("complete")
    assert len(done) == 1
    assert done[0]["path"] == "6e87a417/start4.elf"
    assert done[0]["bytes"] == len(BIG)
    assert done[0]["outcome"] == "complete"
    assert done[0]["options"] == {"blksize": str(blksize), "tsize": "0"}
    rrqs = server.wait_for("rrq")
    assert [e["path"] for e in rrqs] == ["6e87a417/start4.elf"]
    assert str(rrqs[0]["client"]).startswith("127.0.0.1:")


def test_oack_carries_tsize_and_blksize_1468(server: Server) -> None:
    s = client_socket()
    try:
        s.sendto(rrq("6e87a417/start4.elf", {"tsize": "0", "blksize": "1468"}), ("127.0.0.1", server.port))
        oack, tid = s.recvfrom(2048)
        assert parse_oack(oack) == {"tsize": str(len(BIG)), "blksize": "1468"}
        s.sendto(struct.pack("!HH", 4, 0), tid)
        data, _ = s.recvfrom(4096)
        assert struct.unpack("!HH", data[:4]) == (3, 1)
        assert data[4:] == BIG[:1468]
        s.sendto(struct.pack("!HH", 5, 0) + b"Early terminate\0", tid)
    finally:
        s.close()
    errors = server.wait_for("error")
    assert errors and errors[0]["outcome"] == "client_error"


def test_missing_file_is_error_1_at_once(server: Server) -> None:
    s = client_socket()
    try:
        for name in ("6e87a417/start.elf", "recover4.elf", "pieeprom.upd"):
            s.sendto(rrq(name, {"tsize": "0", "blksize": "1024"}), ("127.0.0.1", server.port))
            reply, _ = s.recvfrom(2048)
            code, err = struct.unpack("!HH", reply[:4])
            assert (code, err) == (5, 1)
            assert reply[4:].rstrip(b"\0") == b"File not found"
    finally:
        s.close()
    errors = server.wait_for("error", count=3)
    assert [(e["path"], e["outcome"]) for e in errors] == [
        ("6e87a417/start.elf", "not_found"), ("recover4.elf", "not_found"), ("pieeprom.upd", "not_found")]


def test_tftpy_client_sees_file_not_found(server: Server, tmp_path: Path) -> None:
    with pytest.raises(tftpy.TftpException, match="File not found"):
        download(server.port, "nope/start4.elf", tmp_path / "x", 1024)


def test_early_terminate_mid_transfer_then_server_still_serves(server: Server, tmp_path: Path) -> None:
    s = client_socket()
    try:
        s.sendto(rrq("6e87a417/start4.elf", {"blksize": "1024"}), ("127.0.0.1", server.port))
        oack, tid = s.recvfrom(2048)
        assert parse_oack(oack) == {"blksize": "1024"}
        s.sendto(struct.pack("!HH", 4, 0), tid)
        for block in (1, 2, 3):
            data, _ = s.recvfrom(2048)
            assert struct.unpack("!HH", data[:4]) == (3, block)
            if block < 3:
                s.sendto(struct.pack("!HH", 4, block), tid)
        s.sendto(struct.pack("!HH", 5, 0) + b"Early terminate\0", tid)
    finally:
        s.close()
    errors = server.wait_for("error")
    assert len(errors) == 1
    assert errors[0]["outcome"] == "client_error"
    assert "Early terminate" in str(errors[0]["message"])
    assert errors[0]["path"] == "6e87a417/start4.elf"
    assert download(server.port, "config.txt", tmp_path / "c.txt", 1024) == b"[all]\nenable_uart=1\n"


def test_edge_sizes(server: Server, tmp_path: Path) -> None:
    assert download(server.port, "empty.bin", tmp_path / "e", 1024) == b""
    assert download(server.port, "exact1024.bin", tmp_path / "x", 1024) == b"x" * 1024
    done = server.wait_for("complete", count=2)
    assert sorted((e["path"], e["bytes"]) for e in done) == [("empty.bin", 0), ("exact1024.bin", 1024)]


def test_concurrent_transfers(server: Server, tmp_path: Path) -> None:
    results: dict[int, bytes] = {}
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            results[i] = download(server.port, "6e87a417/start4.elf", tmp_path / f"o{i}", 1024 if i % 2 else 1468)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures
    assert len(results) == 6 and all(v == BIG for v in results.values())
    done = server.wait_for("complete", count=6)
    assert len(done) == 6
    assert len({e["client"] for e in done}) == 6


def test_refuses_writes_and_escapes(server: Server) -> None:
    s = client_socket()
    try:
        s.sendto(struct.pack("!H", 2) + b"upload.bin\0octet\0", ("127.0.0.1", server.port))
        reply, _ = s.recvfrom(2048)
        assert struct.unpack("!HH", reply[:4]) == (5, 2)
        s.sendto(rrq("../../etc/passwd", {}), ("127.0.0.1", server.port))
        reply, _ = s.recvfrom(2048)
        assert struct.unpack("!H", reply[:2])[0] == 5
        s.sendto(b"\x00\x09garbage", ("127.0.0.1", server.port))
    finally:
        s.close()
    assert not (server.root / "upload.bin").exists()
    errors = server.wait_for("error", count=3)
    assert [e["outcome"] for e in errors] == ["refused", "refused", "malformed"]
    # still alive
    assert download(server.port, "config.txt", server.root.parent / "after.txt", 512).startswith(b"[all]")
