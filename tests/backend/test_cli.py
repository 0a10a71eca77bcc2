"""``malina backend`` end to end: ``serve`` as a real process on 127.0.0.1, machine commands over HTTP and
directly on the database, ``db upgrade``, and clear errors for bad input."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from backend_helpers import HOOK_AUTH, READ, SHA, WRITE, serve

from backend import migrate
from backend.cli import main

REPO = Path(__file__).resolve().parents[2]
IMAGE_ARGS = ["--image-url", "http://10.89.0.5:8081/u.img.xz", "--image-sha256", SHA, "--image-size", "4096"]


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[str]:
    with serve(db_url, tmp_path / "serve.log") as url:
        yield url


def test_cli_over_http(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    http = ["--url", served, "--token", WRITE]
    assert main(["machine", "import", str(REPO / "lab.yaml"), *http, *IMAGE_ARGS]) == 0
    created = json.loads(capsys.readouterr().out)["created"]
    assert created and created[0] == "pi-01"
    # the hook's view of pi-01's port: circuit-id and the switch's remote-id, as hex
    m = json.loads(_run(capsys, ["machine", "list", "--json", "--url", served, "--token", READ]))[0]
    answer = httpx.get(
        f"{served}/v1/dhcp/options", params={"sub82_1": m["sub82_1"], "sub82_2": m["sub82_2"]}, headers=HOOK_AUTH
    ).json()
    assert answer["224"].startswith(f"{served}/v1/install/")
    table = _run(capsys, ["machine", "list", *http])
    assert table.splitlines()[0].split()[:3] == ["NAME", "MODE", "FLAG"]
    assert "pi-01" in table and "#1 pending" in table
    out = _run(capsys, ["machine", "set-local", "pi-01", *http])
    assert "pi-01: boot mode local" in out and "kea cache flush: disabled" in out
    out = _run(capsys, ["machine", "history", "pi-01", *http])
    assert [line.split()[2] for line in out.splitlines()] == ["added", "attempt", "state", "set-local"]
    assert main(["machine", "reinstall", "pi-01", "--url", served, "--token", READ]) == 1
    assert "HTTP 403" in capsys.readouterr().err
    # the boot-local method: the lab's (in brackets) until a machine gets its own
    row = next(line for line in table.splitlines() if line.startswith("pi-01 "))
    assert row.split()[3] == "(opt66-zero+tftp-deny)", table
    out = _run(capsys, ["machine", "boot-local-method", "pi-01", "tftp-deny", *http])
    assert "boot-local method tftp-deny;" in out, out
    row = next(line for line in _run(capsys, ["machine", "list", *http]).splitlines() if line.startswith("pi-01 "))
    assert row.split()[3] == "tftp-deny", row
    out = _run(capsys, ["machine", "boot-local-method", "pi-01", "default", *http])
    assert "boot-local method opt66-zero+tftp-deny (the lab default)" in out, out


def test_cli_on_the_database(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    assert main(["db", "upgrade", *db]) == 0
    assert f"revision {migrate.head()}" in capsys.readouterr().out
    args = [
        "machine",
        "add",
        "rack-1",
        "--circuit-id",
        "hex:0a0b",
        "--remote-id",
        "sw9",
        "--mac",
        "DC-A6-32-01-02-03",
        "--address",
        "10.7.0.9/24",
        "--gateway",
        "10.7.0.1",
        "--dns",
        "10.7.0.2",
        *IMAGE_ARGS,
        "--ssh-key",
        "ssh-ed25519 AAAAC3Nz ops",
        *db,
    ]
    assert main(args) == 0
    added = json.loads(capsys.readouterr().out)
    assert (
        added["sub82_1"] == "0a0b"
        and added["sub82_2"] == b"sw9".hex()
        and added["mac"] == "dc:a6:32:01:02:03"
    )
    assert added["install"]["hostname"] == "rack-1"
    assert main(args) == 1
    assert "exists" in capsys.readouterr().err
    assert main([*args, "--replace", "--hostname", "rack-one"]) == 0
    assert json.loads(capsys.readouterr().out)["install"]["hostname"] == "rack-one"
    assert main(["machine", "reinstall", "rack-1", *db]) == 0
    assert "boot mode install" in capsys.readouterr().out
    assert main(["machine", "history", "rack-1", "--json", *db]) == 0
    kinds = [e["kind"] for e in json.loads(capsys.readouterr().out)["events"]]
    assert kinds == ["added", "redefined", "reinstall"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_errors_are_clear(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", db_url]
    bad = tmp_path / "boards.yaml"
    bad.write_text("boards:\n  - {name: x1, port: {circuit_id: a}, mac: zz, boot_mode: local}\n")
    assert main(["machine", "import", str(bad), *db]) == 2
    err = capsys.readouterr().err
    assert "boards[0] (x1)" in err and "mac" in err
    assert main(["machine", "add", "x2", "--circuit-id", "p1", "--address", "10.0.0.5/24", *db]) == 2
    assert "image" in capsys.readouterr().err
    assert main(["machine", "reinstall", "nope", *db]) == 1
    assert "no machine named 'nope'" in capsys.readouterr().err
    assert main(["machine", "list", "--url", "http://127.0.0.1:9"]) == 2
    assert "--token" in capsys.readouterr().err
    assert main(["db", "upgrade", "--db", "sqlite:////nonexistent-dir/x.db"]) == 2
    assert "does not exist" in capsys.readouterr().err
    env_tftp = os.environ.pop("MALINA_TFTP_SERVER", None)
    try:
        assert main(["serve", *db]) == 2
        assert "MALINA_TFTP_SERVER" in capsys.readouterr().err
    finally:
        if env_tftp is not None:
            os.environ["MALINA_TFTP_SERVER"] = env_tftp


def test_serve_needs_the_public_url(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Without MALINA_PUBLIC_URL the handed-out URLs would come from the Host header: serve refuses to start."""
    monkeypatch.delenv("MALINA_PUBLIC_URL", raising=False)
    monkeypatch.setenv("MALINA_TFTP_SERVER", "10.89.0.4")
    assert main(["serve", "--db", f"sqlite:///{tmp_path / 'db.sqlite'}"]) == 2
    assert "MALINA_PUBLIC_URL is not set" in capsys.readouterr().err


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out
