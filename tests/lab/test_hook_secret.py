"""The lab gives the Kea hook and the backend one bearer secret per run (issue 13.1)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from harness.lab import services
from harness.lab.docker_lab import LabRun
from harness.lab.keaconfig import HOOK_SECRET_PATH, dhcp4_config
from harness.lab.model import Lab

SECRET = "lab-secret-0123456789abcdefghijklmnopqrstuvw"


def test_kea_and_backend_get_the_same_secret(default_lab: Lab) -> None:
    kea = services.kea_spec(default_lab, with_hook=True, hook_secret=SECRET)
    params = json.loads(kea.files["/etc/kea/kea-dhcp4.conf"])["Dhcp4"]["hooks-libraries"][0]["parameters"]
    assert params["auth-secret-file"] == HOOK_SECRET_PATH
    assert kea.files[HOOK_SECRET_PATH] == (SECRET + "\n").encode()
    backend = services.backend_spec(default_lab, hook_secret=SECRET)
    path = backend.env["MALINA_HOOK_SECRET_FILE"]
    assert backend.files[path] == (SECRET + "\n").encode()
    assert SECRET not in json.dumps(backend.env)  # a file, never the environment


def test_no_secret_no_credential(default_lab: Lab) -> None:
    kea = services.kea_spec(default_lab, with_hook=True)
    params = json.loads(kea.files["/etc/kea/kea-dhcp4.conf"])["Dhcp4"]["hooks-libraries"][0]["parameters"]
    assert "auth-secret-file" not in params and HOOK_SECRET_PATH not in kea.files
    assert "MALINA_HOOK_SECRET_FILE" not in services.backend_spec(default_lab).env
    # a Kea without the hook gets no secret file
    assert HOOK_SECRET_PATH not in services.kea_spec(default_lab, with_hook=False, hook_secret=SECRET).files
    assert "hooks-libraries" not in dhcp4_config(default_lab, with_hook=False)["Dhcp4"]


def test_each_run_has_its_own_secret(default_lab: Lab, tmp_path: Path) -> None:
    runs = [LabRun(default_lab, services=(), workdir=tmp_path / str(i), client=object()) for i in range(2)]  # type: ignore[arg-type]
    assert runs[0].hook_secret != runs[1].hook_secret
    assert all(len(run.hook_secret) >= 32 for run in runs)
    path = runs[0]._write_secret("hook.secret", runs[0].hook_secret)
    assert path.read_text() == runs[0].hook_secret + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.docker
def test_lab_backend_wants_the_runs_secret(default_lab: Lab, docker_engine: object) -> None:
    with LabRun(default_lab, services=("kea", "backend", "relay")) as run:
        backend = run.lab.services.backend
        run.wait_tcp(str(backend.address), backend.port, timeout=60)
        url = f"{backend.url}/v1/dhcp/options"
        query = {"sub82_1": "01", "sub82_2": "02"}
        assert httpx.get(url, params=query, timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer " + "x" * 43}
        assert httpx.get(url, params=query, headers=wrong, timeout=10).status_code == 401
        right = {"Authorization": f"Bearer {run.hook_secret}"}
        assert httpx.get(url, params=query, headers=right, timeout=10).json() == {"66": "0.0.0.0"}
        assert (run.workdir / "secrets" / "hook.secret").read_text().strip() == run.hook_secret
        logs = run.logs("kea")
        assert "REMOTE_OPTIONS_LOAD_OK" in logs and "LOAD_FAILED" not in logs, logs[-2000:]
        assert run.hook_secret not in logs
