"""The image server of an https lab (``harness.sim.fileserver``) and the TFTP gate's verified client
(``harness.sim.tftpgate.verified_get``), on 127.0.0.1 with a lab CA's certificate: files served as the plain
``http.server`` serves them, only to clients that trust the lab CA; a plain-http request is refused and logged."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.lab.tlsca import LabCa
from harness.sim import fileserver
from harness.sim.tftpgate import BackendGate, verified_get


@pytest.fixture(scope="module")
def ca() -> LabCa:
    return LabCa.create("fileserver test CA")


class Served:
    def __init__(self, url: str, root: Path, ca_file: Path, lines: list[str]) -> None:
        self.url, self.root, self.ca_file, self.lines = url, root, ca_file, lines

    @property
    def log(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def served(ca: LabCa, tmp_path: Path) -> Iterator[Served]:
    root = tmp_path / "files"
    (root / "v1" / "tftp").mkdir(parents=True)
    (root / "image.img").write_bytes(bytes(range(256)) * 4096)
    (root / "v1" / "tftp" / "gate").write_text(json.dumps({"open": True, "reason": "install"}))
    cert, key = ca.issue("127.0.0.1").write(tmp_path / "tls", "files")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.pem)
    lines: list[str] = []
    server = fileserver.make_server("127.0.0.1", 0, root, fileserver.server_context(cert, key), lines.append)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Served(f"https://127.0.0.1:{server.server_address[1]}", root, ca_file, lines)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _get(url: str, ca_file: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(ca_file))
    with urllib.request.urlopen(url, timeout=5, context=context) as response:
        return bytes(response.read())


def test_a_client_trusting_the_lab_ca_gets_the_file(served: Served) -> None:
    assert _get(f"{served.url}/image.img", served.ca_file) == (served.root / "image.img").read_bytes()
    assert '"GET /image.img HTTP/1.1" 200' in served.log
    assert served.log.startswith("https 127.0.0.1 - ")


def test_a_client_trusting_another_ca_refuses_the_server(served: Served, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(LabCa.create("someone else").pem)
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        _get(f"{served.url}/image.img", other)
    assert "GET /image.img" not in served.log


def test_plain_http_to_the_https_port_is_refused(served: Served) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with pytest.raises((http.client.HTTPException, ConnectionError)):  # closed without an answer in clear
        conn.request("GET", "/image.img")
        conn.getresponse()
    conn.close()
    # the server logs the failed handshake (its thread may still be writing it)
    for _ in range(50):
        if "tls handshake from 127.0.0.1 failed" in served.log:
            break
        threading.Event().wait(0.05)
    assert "tls handshake from 127.0.0.1 failed" in served.log, served.log
    assert "GET /image.img" not in served.log


def test_the_tftp_gate_verifies_an_https_backend_against_its_ca(served: Served, tmp_path: Path) -> None:
    gate = BackendGate(served.url, "t" * 32, fetch=verified_get(str(served.ca_file)))
    assert gate.check("6e87a417/start4.elf", "10.90.1.100:1234").open
    other = tmp_path / "other.pem"
    other.write_bytes(LabCa.create("someone else").pem)
    refusing = BackendGate(served.url, "t" * 32, fetch=verified_get(str(other)))
    verdict = refusing.check("6e87a417/start4.elf", "10.90.1.100:1234")
    assert not verdict.open and "CERTIFICATE_VERIFY_FAILED" in verdict.reason, verdict
