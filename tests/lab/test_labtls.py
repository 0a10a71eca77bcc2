"""https in the sim lab (issue 13.3): lab.yaml ``services.backend.tls`` / ``services.files.tls`` validated by the
model, the run's CA and certificates (``harness.lab.labtls``), and what each container spec gets from them; with
the option off every spec is what it was."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from harness.lab import labtls
from harness.lab.agenttrust import CA_FILE, ORIGINS_FILE
from harness.lab.boardspec import board_spec
from harness.lab.keaconfig import HOOK_CA_PATH
from harness.lab.model import Lab, parse_lab
from harness.lab.services import backend_spec, files_spec, kea_spec, tftp_spec
from testkit.labtext import config_error, line_of

REPO = Path(__file__).resolve().parents[2]
TEXT = (REPO / "lab.yaml").read_text()
BACKEND_LINE = "    boot_local_method: opt66-zero+tftp-deny\n"
FILES_LINE = "  files: {address: 10.89.0.5, port: 8081}"


def _with(text: str, *, backend: str | None = None, files: str | None = None) -> str:
    if backend is not None:
        assert BACKEND_LINE in text
        text = text.replace(BACKEND_LINE, f"{BACKEND_LINE}    tls: {backend}\n")
    if files is not None:
        assert FILES_LINE in text
        text = text.replace(FILES_LINE, f"  files: {{address: 10.89.0.5, port: 8081, tls: {files}}}")
    return text



def test_off_by_default_and_plain_http() -> None:
    lab = parse_lab(TEXT, "lab.yaml")
    assert not lab.services.backend.tls and not lab.services.files.tls
    assert lab.services.backend.url == "http://10.89.0.3:8080"
    assert lab.services.files.url == "http://10.89.0.5:8081"
    assert labtls.https_roles(lab) == []


def test_tls_true_makes_the_urls_https_and_survives_a_shift() -> None:
    lab = parse_lab(_with(TEXT, backend="true", files="true"), "lab.yaml")
    assert lab.services.backend.url == "https://10.89.0.3:8080"
    assert lab.services.files.url == "https://10.89.0.5:8081"
    assert labtls.https_roles(lab) == ["backend", "files"]
    shifted = lab.shifted(3)
    assert shifted.services.backend.url == "https://10.92.0.3:8080" and shifted.services.files.tls


@pytest.mark.parametrize("value", ['"yes"', "1", "https", "[true]"])
def test_a_tls_value_that_is_not_a_boolean_names_line_and_field(value: str) -> None:
    text = _with(TEXT, backend=value)
    msg = config_error(text)
    assert msg.startswith(f"lab.yaml:{line_of(text, '    tls: ')}: services.backend.tls: tls is true"), msg
    assert "not " in msg


def test_tls_on_a_rack_lab_is_refused() -> None:
    text = (REPO / "lab.rack.example.yaml").read_text()
    rack = parse_lab(text, "rack.yaml")
    data: dict[str, Any] = rack.model_dump(mode="json")
    data["services"]["files"]["tls"] = True
    with pytest.raises(ValueError, match=r"services\.files\.tls: only a sim lab serves https"):
        Lab.model_validate(data)


def test_with_tls_is_the_same_lab_over_https(default_lab: Lab) -> None:
    lab = labtls.with_tls(default_lab, name="sim-https")
    assert lab.lab.name == "sim-https" and lab.boards == default_lab.boards
    assert lab.services.backend.url.startswith("https://") and lab.services.files.url.startswith("https://")
    only = labtls.with_tls(default_lab, files=False)
    assert labtls.https_roles(only) == ["backend"]


def test_no_ca_without_https(default_lab: Lab, tmp_path: Path) -> None:
    assert labtls.make(default_lab, tmp_path / "tls", "x") is None
    assert not (tmp_path / "tls").exists()


@pytest.fixture(scope="module")
def https_lab(default_lab: Lab) -> Lab:
    return labtls.with_tls(default_lab).shifted(2)  # a concurrent run's addresses: the certificates follow


@pytest.fixture(scope="module")
def run_tls(https_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> labtls.LabTls:
    tls = labtls.make(https_lab, tmp_path_factory.mktemp("tls"), "malina lab test")
    assert tls is not None
    return tls


def _ips(pem: bytes) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    cert = x509.load_pem_x509_certificate(pem)
    values = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.IPAddress)
    return [v for v in values if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address))]


def test_certificates_name_the_runs_addresses_and_chain_to_its_ca(https_lab: Lab, run_tls: labtls.LabTls) -> None:
    ca = x509.load_pem_x509_certificate(run_tls.ca_pem)
    assert run_tls.ca_file.read_bytes() == run_tls.ca_pem
    for role in ("backend", "files"):
        issued = run_tls.servers[role]
        assert _ips(issued.cert_pem) == [getattr(https_lab.services, role).address]
        cert = x509.load_pem_x509_certificate(issued.cert_pem)
        cert.verify_directly_issued_by(ca)
        assert (run_tls.ca_file.parent / f"{role}.key").stat().st_mode & 0o077 == 0


def test_specs_over_https(https_lab: Lab, run_tls: labtls.LabTls, tmp_path: Path) -> None:
    backend = backend_spec(https_lab, hook_secret="s" * 40, tls=run_tls)
    assert backend.command[-1].endswith(f"--port 8080 --tls-cert {labtls.CERT_PATH} --tls-key {labtls.KEY_PATH}")
    assert backend.env["MALINA_PUBLIC_URL"] == "https://10.91.0.3:8080"
    assert backend.files[labtls.CERT_PATH] == run_tls.servers["backend"].cert_pem
    files = files_spec(https_lab, tmp_path, tls=run_tls)
    assert files.command[:3] == ["python", "-m", "harness.sim.fileserver"]
    assert files.files[labtls.KEY_PATH] == run_tls.servers["files"].key_pem
    tftp = tftp_spec(https_lab, tmp_path, tls=run_tls)
    assert tftp.command[-4:] == ["--gate-url", "https://10.91.0.3:8080", "--gate-ca", labtls.CA_PATH]
    assert tftp.files == {labtls.CA_PATH: run_tls.ca_pem}
    kea = kea_spec(https_lab, hook_secret="s" * 40, tls=run_tls)
    params = json.loads(kea.files["/etc/kea/kea-dhcp4.conf"])["Dhcp4"]["hooks-libraries"][-1]["parameters"]
    assert params["url"] == "https://10.91.0.3:8080/v1/dhcp/options" and params["tls-ca-file"] == HOOK_CA_PATH
    assert kea.files[HOOK_CA_PATH] == run_tls.ca_pem


def test_the_board_gets_the_ca_and_the_https_origin(https_lab: Lab, run_tls: labtls.LabTls, tmp_path: Path) -> None:
    class _Run:
        lab = https_lab
        workdir = tmp_path

    spec = board_spec(_Run(), https_lab.boards[0], ca_pem=run_tls.ca_pem)
    assert spec.files[CA_FILE] == run_tls.ca_pem
    origins = [line for line in spec.files[ORIGINS_FILE].decode().splitlines() if not line.startswith("#")]
    assert origins == ["https://10.91.0.3:8080"]


def test_an_https_lab_without_the_runs_certificates_is_a_clear_error(https_lab: Lab, tmp_path: Path) -> None:
    builds: list[Callable[[], object]] = [lambda: backend_spec(https_lab), lambda: files_spec(https_lab, tmp_path),
                                         lambda: tftp_spec(https_lab, tmp_path), lambda: kea_spec(https_lab)]
    for build in builds:
        with pytest.raises(ValueError, match="comes from the run's CA"):
            build()


def test_off_every_spec_is_as_before(default_lab: Lab, run_tls: labtls.LabTls, tmp_path: Path) -> None:
    """A plain lab ignores a CA it is handed, and its commands are the ones it always had."""
    assert backend_spec(default_lab, hook_secret="s" * 40, tls=run_tls) == backend_spec(default_lab,
                                                                                      hook_secret="s" * 40)
    backend = backend_spec(default_lab, hook_secret="s" * 40)
    assert backend.command == ["sh", "-c", "mkdir -p /var/lib/malina && exec malina-backend serve --host 0.0.0.0 "
                                           "--port 8080"]
    assert not any(path.startswith(labtls.TLS_DIR) for path in backend.files)
    assert files_spec(default_lab, tmp_path, tls=run_tls) == files_spec(default_lab, tmp_path)
    assert files_spec(default_lab, tmp_path).command == ["python", "-m", "http.server", "8081", "--directory",
                                                         "/srv/files"]
    assert files_spec(default_lab, tmp_path).files == {}
    tftp = tftp_spec(default_lab, tmp_path, tls=run_tls)
    assert tftp == tftp_spec(default_lab, tmp_path) and "--gate-ca" not in tftp.command and tftp.files == {}
    kea = kea_spec(default_lab, hook_secret="s" * 40, tls=run_tls)
    assert kea == kea_spec(default_lab, hook_secret="s" * 40) and HOOK_CA_PATH not in kea.files
    assert b"tls-ca-file" not in kea.files["/etc/kea/kea-dhcp4.conf"]
