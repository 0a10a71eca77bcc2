"""Host network interfaces a lab run creates (macvlans, veths, dummies), labelled like its containers.

Linux links carry no labels, but each has a free-text alias (``ip link set dev X alias …``): a run's links
carry ``malina.run=<id> malina.pid=<pid> malina.host=<host>``, so the run removes them at its end and the
next run (or ``malina lab down --stale``) removes those of a run whose process is gone, as for containers.
Names are at most 15 characters (the kernel's limit).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess

ALIAS_PREFIX = "malina.run="


class LinkError(RuntimeError):
    """An ``ip`` command failed."""


def ip(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise LinkError(f"ip {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True, timeout=30).returncode == 0


def label(name: str, run_id: str, pid: int) -> None:
    """Tag a link with its run (its alias)."""
    alias = f"{ALIAS_PREFIX}{run_id} malina.pid={pid} malina.host={socket.gethostname()}"
    ip("link", "set", "dev", name, "alias", alias)


def _labels(alias: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in alias.split() if "=" in part)


def run_links() -> dict[str, dict[str, str]]:
    """Every labelled link of this host: name -> its labels."""
    out: dict[str, dict[str, str]] = {}
    for link in json.loads(ip("-j", "link", "show") or "[]"):
        alias = str(link.get("ifalias") or "")
        if alias.startswith(ALIAS_PREFIX):
            out[str(link["ifname"])] = _labels(alias)
    return out


def remove(name: str) -> None:
    """Delete a link (a veth's peer goes with it); a link already gone is fine."""
    if exists(name):
        ip("link", "del", "dev", name, check=False)


def remove_run(run_id: str) -> list[str]:
    gone = [name for name, labels in run_links().items() if labels.get("malina.run") == run_id]
    for name in gone:
        remove(name)
    return gone


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale() -> list[str]:
    """Remove the links of this host's runs whose process is gone."""
    host = socket.gethostname()
    gone = []
    for name, labels in run_links().items():
        try:
            pid = int(labels.get("malina.pid", "0"))
        except ValueError:
            continue
        if labels.get("malina.host") == host and not _alive(pid):
            remove(name)
            gone.append(name)
    return gone
