"""``malina backend serve --tls-cert --tls-key``: the backend over https with a lab CA's certificate (issue 13.3),
the hook's secret still required; the admin client verifies it against the CA it is given."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from backend_helpers import HOOK_AUTH, HOOK_SECRET, REPO, WRITE, auth, machine, port_query

from backend.client import AdminError, HttpAdmin
from harness.lab.tlsca import LabCa
from harness.wait import wait_until
from testkit.ports import free_port


def test_https_backend(tmp_path: Path) -> None:
    ca = LabCa.create("backend test CA")
    cert, key = ca.issue("127.0.0.1").write(tmp_path / "tls", "backend")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.pem)
    secret = tmp_path / "hook.secret"
    secret.write_text(HOOK_SECRET + "\n")
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALINA_")}
    env.update({"MALINA_DB_URL": f"sqlite:///{tmp_path / 'm.db'}", "MALINA_TFTP_SERVER": "10.89.0.4",
                "MALINA_PUBLIC_URL": url, "MALINA_ADMIN_WRITE_TOKEN": WRITE, "MALINA_HOOK_SECRET_FILE": str(secret)})
    cmd = [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--tls-cert", str(cert), "--tls-key", str(key)]
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file)), timeout=5) as client:
            wait_until("https backend healthy", lambda: client.get(f"{url}/v1/health").json()["ok"], timeout=30,
                       interval=0.2, retry_on=(httpx.HTTPError, ValueError))
            assert client.post(f"{url}/v1/admin/machines", json=machine(), headers=auth()).status_code == 201
            answer = client.get(f"{url}/v1/dhcp/options", params=port_query(1), headers=HOOK_AUTH).json()
            assert answer["224"].startswith(f"{url}/v1/install/")
            assert client.get(f"{url}/v1/dhcp/options", params=port_query(1)).status_code == 401
        # the admin client (HttpBackend's, the CLI's) verifies against the CA it is given, else the system's CAs
        admin = HttpAdmin(url, WRITE, ca_file=ca_file)
        assert [m["name"] for m in admin.machines()] == [machine()["name"]]
        admin.close()
        stranger = HttpAdmin(url, WRITE)
        with pytest.raises(AdminError, match="CERTIFICATE_VERIFY_FAILED") as refused:
            stranger.machines()
        assert refused.value.status is None  # not an answer of the backend: the connection was refused
        stranger.close()
        # a plain-http request to the https port gets no answer in clear: the connection is dropped
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5)
        with pytest.raises(httpx.ConnectError):  # a client that trusts only another CA refuses the server
            other = tmp_path / "other.pem"
            other.write_bytes(LabCa.create("another CA").pem)
            httpx.get(f"{url}/v1/health", verify=ssl.create_default_context(cafile=str(other)), timeout=5)
    finally:
        proc.terminate()
        proc.wait(10)


def test_cert_without_key_is_a_usage_error(tmp_path: Path) -> None:
    from backend.cli import main

    assert main(["serve", "--db", f"sqlite:///{tmp_path / 'm.db'}", "--tftp-server", "10.89.0.4",
                 "--tls-cert", "x.pem"]) == 2
