"""A rack session against real local neighbours: a backend process, a ser2net-like console (a TCP server) and
a relay command, all on 127.0.0.1 — no docker. The session defines a board in the backend with the lab file's
image, connects its console, and the pytest plugin runs a board test on such a rack on its own (no root
conftest, no docker engine); a sim lab without docker still FAILS."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.drivers.backend import HttpBackend
from harness.lab.model import Lab, LabConfigError, load_lab, parse_lab
from harness.session import RackSession
from testkit.ports import free_port

REPO = Path(__file__).resolve().parents[2]
RACK_READ, RACK_WRITE = "rack-read-token-0123456789abcdef0123", "rack-write-token-0123456789abcdef012"
IMAGE = {"url": "http://127.0.0.5:8081/ubuntu.img.xz", "sha256": "AB" * 32, "size": 3 << 30, "compression": "xz"}


class ConsoleServer:
    """A raw TCP console (what ser2net offers): every client gets a greeting line for 5 s, then silence."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(conn)
            threading.Thread(target=self._greet, args=(conn,), daemon=True).start()

    def _greet(self, conn: socket.socket) -> None:
        # pyserial's socket:// drops what arrived before open() returned: repeat the line a few times
        for _ in range(25):
            try:
                conn.sendall(b"ser2net port 3001\r\n")
            except OSError:
                return
            time.sleep(0.2)

    def close(self) -> None:
        self.sock.close()
        for c in self.clients:
            c.close()


@pytest.fixture
def backend_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MALINA_DB_URL": f"sqlite:///{tmp_path}/db.sqlite",
           "MALINA_PUBLIC_URL": f"http://127.0.0.1:{port}", "MALINA_TFTP_SERVER": "127.0.0.4",
           "MALINA_ADMIN_READ_TOKEN": RACK_READ, "MALINA_ADMIN_WRITE_TOKEN": RACK_WRITE}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "backend", "serve", "--host", "127.0.0.1", "--port",
                             str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    b = HttpBackend(url, RACK_READ, RACK_WRITE)
    try:
        b.wait_healthy(30)
        yield url
    finally:
        b.close()
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def console_server() -> Iterator[ConsoleServer]:
    srv = ConsoleServer()
    try:
        yield srv
    finally:
        srv.close()


def rack_doc(tmp_path: Path, backend_port: int, console_port: int) -> dict[str, Any]:
    """lab.rack.example.yaml moved onto loopback: services on 127.0.0.x, consoles and power local."""
    doc: dict[str, Any] = yaml.safe_load((REPO / "lab.rack.example.yaml").read_text())
    doc["lab"]["capture_interface"] = "lo"
    doc["networks"] = {"server": {"subnet": "127.0.0.0/24"}, "mgmt": {"subnet": "127.0.1.0/24"}}
    tftp_root = tmp_path / "tftp"
    tftp_root.mkdir(exist_ok=True)
    doc["services"] = {
        "kea": {"address": "127.0.0.2"},
        "backend": {"address": "127.0.0.1", "port": backend_port, "read_token": RACK_READ,
                    "write_token": RACK_WRITE},
        "tftp": {"address": "127.0.0.4", "root": str(tftp_root)},
        "files": {"address": "127.0.0.5", "port": 8081, "image": IMAGE},
        "relay": {"address": "127.0.0.6"},
    }
    relay = tmp_path / "relay"
    for i, board in enumerate(doc["boards"]):
        board["console"] = {"url": f"socket://127.0.0.1:{console_port}"}
        flag = relay.with_name(f"relay-{i}")
        board["power"] = {"driver": "command", "on": f"touch {flag}", "off": f"rm -f {flag}",
                          "state": f"test -e {flag}", "off_time": 0.01}
        board["ssh"]["key"] = "ssh/id_ed25519"
    return doc


def write_lab(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "lab.rack.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_a_rack_lab_needs_a_valid_image(tmp_path: Path) -> None:
    doc = rack_doc(tmp_path, 8080, 3001)
    del doc["services"]["files"]["image"]
    with pytest.raises(LabConfigError, match=r"services\.files\.image"):
        parse_lab(yaml.safe_dump(doc), "rack.yaml")
    doc = rack_doc(tmp_path, 8080, 3001)
    doc["services"]["files"]["image"] = {**IMAGE, "sha256": "12ab"}
    with pytest.raises(LabConfigError, match=r"services\.files\.image\.sha256"):
        parse_lab(yaml.safe_dump(doc), "rack.yaml")
    doc["services"]["files"]["image"] = {**IMAGE, "url": "file:///srv/ubuntu.img"}
    with pytest.raises(LabConfigError, match=r"services\.files\.image\.url"):
        parse_lab(yaml.safe_dump(doc), "rack.yaml")
    lab = load_lab(REPO / "lab.rack.example.yaml")  # the documented example has one
    assert lab.services.files.image is not None and lab.services.files.image.spec()["compression"] == "xz"


def test_rack_session_defines_a_board_and_connects_it(tmp_path: Path, backend_url: str,
                                                       console_server: ConsoleServer) -> None:
    port = int(backend_url.rsplit(":", 1)[1])
    lab: Lab = load_lab(write_lab(tmp_path, rack_doc(tmp_path, port, console_server.port)))
    with RackSession(lab, workdir=tmp_path / "work") as session:
        assert session.image == {**IMAGE, "sha256": "ab" * 32}  # normalised like the backend stores it
        m = session.define("rack-pi-01", mode="install")
        assert m["boot_mode"] == "install" and m["install"]["image"]["sha256"] == "ab" * 32
        assert m["install"]["image"]["size"] == IMAGE["size"]
        assert m["install"]["ssh_authorized_keys"] == [session.ssh_public_key]
        bad = session.define("rack-pi-01", image={**session.image, "sha256": "0" * 64})
        assert bad["install"]["image"]["sha256"] == "0" * 64  # a scenario's own image wins
        t = session.target("rack-pi-01")
        assert t.console.expect(r"ser2net port \d+", 5).match is not None
        assert t.power.state() == "off"
        t.power.on()
        assert t.power.state() == "on"
        t.power.off()
        assert session.current(t) is t
    assert session.targets == {}


INNER_TESTS = '''
import pytest
from harness.drivers.base import InfraFailure


def test_board_on_the_rack(board, lab_session, backend, boot_strategy, lease_registry, request):
    assert "docker_engine" not in request.fixturenames
    m = backend.machine(board.name)
    assert m["boot_mode"] == "install"
    assert m["install"]["image"] == {**lab_session.image, "bmap_url": None}
    s = boot_strategy(board, timeouts={"power-on": 0.5})
    with pytest.raises(InfraFailure, match="banner"):
        s.power_on()  # the console stays silent: infrastructure, and the board is quarantined
    assert board.name in lease_registry.quarantined()


@pytest.mark.board(capabilities=["relay"])
def test_dead_console_quarantines_in_set_up(board):
    raise AssertionError("the board's console is dead: set-up must fail before the test body")


@pytest.mark.board(capabilities=["relay"])
def test_then_no_board_for_the_capability(board):
    raise AssertionError("the board was quarantined: no lease")
'''


def run_plugin_alone(tmp_path: Path, lab_path: Path, extra_env: dict[str, str] | None = None
                     ) -> subprocess.CompletedProcess[str]:
    """pytest with only the malina plugin (no entry points, no root conftest: it runs in ``tmp_path``)."""
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS))
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(REPO),
           "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "fixtures.plugin", "-p", "no:cacheprovider",
                           "-q", "-rA", "--lab", str(lab_path), "--lease-dir", str(tmp_path / "leases"),
                           "--rootdir", str(tmp_path), "test_inner.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)


def test_the_plugin_alone_runs_a_rack_board_test_without_docker(tmp_path: Path, backend_url: str,
                                                                 console_server: ConsoleServer) -> None:
    port = int(backend_url.rsplit(":", 1)[1])
    doc = rack_doc(tmp_path, port, console_server.port)
    dead = free_port()  # nothing listens here: rack-pi-03's (the relay board's) console is gone
    doc["boards"][2]["console"] = {"url": f"socket://127.0.0.1:{dead}"}
    out = run_plugin_alone(tmp_path, write_lab(tmp_path, doc))
    text = out.stdout + out.stderr
    assert "PASSED test_inner.py::test_board_on_the_rack" in text, text
    assert "ERROR test_inner.py::test_dead_console_quarantines_in_set_up" in text, text
    assert "ERROR test_inner.py::test_then_no_board_for_the_capability" in text, text
    assert "quarantined this run" in text and "set-up: [infrastructure]" in text, text
    assert "docker" not in text.lower(), text


def test_a_sim_run_without_docker_fails_not_skips(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text("def test_needs_the_lab(lab_session):\n    pass\n")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(REPO),
           "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "fixtures.plugin", "-p", "no:cacheprovider", "-q",
                          "-rA", "--lab", str(REPO / "lab.yaml"), "--lease-dir", str(tmp_path / "leases"),
                          "--rootdir", str(tmp_path), "test_inner.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "ERROR test_inner.py::test_needs_the_lab" in text and "no docker engine answers" in text, text
    assert "skipped" not in text.lower(), text
