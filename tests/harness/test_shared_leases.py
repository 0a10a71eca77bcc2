"""Leases shared by CI hosts: two independent pytest runs, each its own "host" (``MALINA_HOST_ID``), against one
backend process (on 127.0.0.1, PostgreSQL underneath) and one lab with fewer boards than their workers.

- contention: both hosts run ``pytest -n 2`` on a 2-board lab; every lease is logged with its times and no
  board is ever held by two tests at once;
- crash: host a holds the only board and is killed (SIGKILL: no teardown, no release); host b, already waiting,
  gets the board when a's TTL runs out, not before and not much later.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from backend.client import HttpAdmin
from backend.pgcluster import PgCluster
from harness.drivers.backend import HttpBackend
from testkit.ports import free_port

REPO = Path(__file__).resolve().parents[2]
READ, WRITE = "shared-read-token-0123456789abcdef01", "shared-write-token-0123456789abcdef0"
TTL = 3.0  # host a's leases in the crash test
HOLD = 0.3

INNER = '''
import json, os, time
import pytest

LOG = os.environ["LEASE_LOG"]


def log(**entry):
    with open(LOG, "a") as f:
        f.write(json.dumps({"host": os.environ["MALINA_HOST_ID"], "pid": os.getpid(), **entry}) + "\\n")


@pytest.mark.parametrize("i", range(8))
def test_turn(i, board_leases):
    acquired = time.time()
    time.sleep(float(os.environ["LEASE_HOLD"]))
    log(test=i, board=board_leases[0].board, acquired=acquired, released=time.time())


def test_hold_until_killed(board_leases):
    log(board=board_leases[0].board, acquired=time.time(), released=None)
    time.sleep(120)


def test_take(board_leases):
    log(board=board_leases[0].board, acquired=time.time(), released=time.time())
'''


@pytest.fixture(scope="module")
def backend_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with PgCluster() as pg:
        port = free_port()
        env = {**os.environ, "MALINA_DB_URL": pg.url,
           "MALINA_PUBLIC_URL": f"http://127.0.0.1:{port}", "MALINA_TFTP_SERVER": "127.0.0.4",
               "MALINA_ADMIN_READ_TOKEN": READ, "MALINA_ADMIN_WRITE_TOKEN": WRITE}
        log = (tmp_path_factory.mktemp("backend") / "backend.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port",
                                 str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        b = HttpBackend(url, READ, WRITE)
        try:
            b.wait_healthy(60)
            yield url
        finally:
            b.close()
            proc.terminate()
            proc.wait(10)
            log.close()


def lab_file(tmp_path: Path, url: str, boards: int, name: str) -> Path:
    doc: dict[str, Any] = yaml.safe_load((REPO / "lab.yaml").read_text())
    doc["lab"]["name"] = name
    doc["boards"] = doc["boards"][:boards]
    doc["services"]["backend"].update(read_token=READ, write_token=WRITE)
    doc["leases"] = {"store": "backend", "url": url}
    doc.pop("health", None)
    doc.pop("release_gate", None)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def host(tmp_path: Path, host_id: str, lab: Path, *args: str, ttl: float) -> subprocess.Popen[str]:
    """One "CI host": pytest with only the malina plugin (and xdist), in ``tmp_path``."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(REPO), "MALINA_HOST_ID": host_id,
           "LEASE_LOG": str(tmp_path / "leases.jsonl"), "LEASE_HOLD": str(HOLD),
           "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "fixtures.plugin", "-p", "xdist.plugin",
                             "-p", "no:cacheprovider", "-q", "--lab", str(lab), "--lease-ttl", str(ttl),
                             "--rootdir", str(tmp_path), *args, "test_inner.py"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def logged(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "leases.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_two_hosts_never_hold_a_board_at_once(tmp_path: Path, backend_url: str) -> None:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER))
    lab = lab_file(tmp_path, backend_url, boards=2, name="shared")
    runs = [host(tmp_path, h, lab, "-n", "2", "-k", "test_turn", ttl=10.0) for h in ("host-a", "host-b")]
    outputs = [p.communicate(timeout=150)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], "\n".join(outputs)
    entries = logged(tmp_path)
    assert len(entries) == 16 and {e["host"] for e in entries} == {"host-a", "host-b"}, entries
    assert {e["board"] for e in entries} == {"pi-01", "pi-02"}
    for board in ("pi-01", "pi-02"):
        spans = sorted((e["acquired"], e["released"], e["host"], e["pid"]) for e in entries if e["board"] == board)
        for before, after in itertools.pairwise(spans):
            assert before[1] <= after[0], f"{board} held twice at once: {before} and {after}"
    admin = HttpAdmin(backend_url, WRITE, read_token=READ)
    assert admin.request("GET", "/v1/leases", params={"lab": "shared"})["leases"] == []  # every lease released
    admin.close()


@pytest.mark.slow
def test_a_killed_hosts_board_is_free_after_its_ttl(tmp_path: Path, backend_url: str) -> None:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER))
    lab = lab_file(tmp_path, backend_url, boards=1, name="crash")
    holder = host(tmp_path, "host-a", lab, "-k", "test_hold_until_killed", ttl=TTL)
    try:
        deadline = time.monotonic() + 60
        while not logged(tmp_path):
            assert holder.poll() is None and time.monotonic() < deadline, "host a never held the board"
            time.sleep(0.05)
        # host b waits for the board (its own leases have a long TTL: it waits as long as needed)
        waiter = host(tmp_path, "host-b", lab, "-k", "test_take", ttl=60.0)
        time.sleep(2.5)  # b is up and polling while a still renews its lease
        assert len(logged(tmp_path)) == 1, "host b got the board while host a held it"
        os.kill(holder.pid, signal.SIGKILL)
        killed = time.time()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(10)
    out = waiter.communicate(timeout=90)[0]
    assert waiter.returncode == 0, out
    taken = logged(tmp_path)[-1]
    assert taken["host"] == "host-b" and taken["board"] == "pi-01"
    waited = taken["acquired"] - killed
    # a's last renewal was at most TTL/3 before the kill: the lease ran out TTL - TTL/3 .. TTL after it; b polls
    # every 0.5 s or so
    assert TTL - TTL / 3 - 0.3 <= waited <= TTL + 2.0, waited
