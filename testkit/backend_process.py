"""``malina backend serve`` as its own process on a free loopback port, for tests and the backend benchmark:
started with the given database and tokens (hook secret: ``HOOK_SECRET``), yielded once ``/v1/health`` says ok,
terminated afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.wait import wait_until
from testkit.ports import free_port

REPO = Path(__file__).resolve().parents[1]
# The Kea hook's bearer secret of test backends (a test value: a lab generates its own per run).
HOOK_SECRET = "test-hook-secret-0123456789abcdefghijklmnop"
HOOK_AUTH = {"Authorization": f"Bearer {HOOK_SECRET}"}


@dataclass(frozen=True)
class BackendProcess:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    hook_secret: str = HOOK_SECRET  # what /v1/dhcp/options wants as ``Authorization: Bearer``


def _healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> bool:
    if proc.poll() is not None:
        raise RuntimeError(f"backend exited with {proc.returncode}: {log_path.read_text()}")
    return bool(httpx.get(f"{url}/v1/health", timeout=1).json().get("ok"))


@contextmanager
def backend_process(db_url: str, log_path: Path, *, write_token: str, read_token: str | None = None,
                    env: Mapping[str, str] | None = None, log_level: str | None = None) -> Iterator[BackendProcess]:
    """The backend serving ``db_url`` (``env`` added last; an inherited ``MALINA_KEA_CONTROL_URL`` is dropped
    unless ``env`` names one), its output in ``log_path``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full = {key: value for key, value in os.environ.items() if key != "MALINA_KEA_CONTROL_URL"}
    full.update({"MALINA_DB_URL": db_url, "MALINA_TFTP_SERVER": "10.89.0.4", "MALINA_PUBLIC_URL": url,
                 "MALINA_ADMIN_WRITE_TOKEN": write_token})
    if read_token is not None:
        full["MALINA_ADMIN_READ_TOKEN"] = read_token
    secret_file = log_path.with_name(log_path.name + ".hook-secret")
    secret_file.write_text(HOOK_SECRET + "\n")
    full["MALINA_HOOK_SECRET_FILE"] = str(secret_file)
    full.update(env or {})
    cmd = [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if log_level is not None:
        cmd += ["--log-level", log_level]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=full, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(f"backend on {url}: healthy", lambda: _healthy(url, proc, log_path), timeout=30,
                       interval=0.1, retry_on=(httpx.HTTPError, ValueError))
            yield BackendProcess(url, port, proc)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
