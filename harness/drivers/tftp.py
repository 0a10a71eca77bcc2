"""The TFTP driver: per-board trees staged atomically in the server's root, and what the server served.

``DirTftp(root, read_log)``: ``stage(serial, files)`` writes the tree to ``<root>/.trees/<serial>-<n>/`` and then
swaps the relative symlink ``<root>/<serial>`` to it with one ``rename`` (a Pi reading at that moment sees the
old tree or the new one, never half of one, never none); older trees are removed after the swap.
``served(since)`` parses the server's JSON-lines log (``harness.sim.tftpserver``: ``rrq`` / ``complete`` /
``error`` with ``ts``, ``path``, ``client``, ``bytes``; ``read_log=None``: the server keeps none, e.g. tftpd-hpa,
and ``logged`` is False); ``verify(server, serial, files)`` reads every file back
over TFTP (tftpy) and lists what differs. The sim's server reads the same directory through a bind mount; on a
rack, ``services.tftp.root`` names the server's root as this host sees it (NFS, sshfs, the server itself).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tftpy

from harness.drivers.base import Tftp

TREES = ".trees"

log = logging.getLogger(__name__)


class DirTftp(Tftp):
    def __init__(self, root: Path, read_log: Callable[[], str] | None) -> None:
        self.root = root
        self.read_log = read_log
        self._counter = itertools.count(int(time.time() * 1000))

    def _check_name(self, serial: str) -> None:
        if not serial or "/" in serial or serial.startswith("."):
            raise ValueError(f"not a board directory name: {serial!r}")

    def stage(self, serial: str, files: dict[str, bytes]) -> Path:
        self._check_name(serial)
        trees = self.root / TREES
        trees.mkdir(parents=True, exist_ok=True)
        name = f"{serial}-{next(self._counter)}"
        tree = trees / name
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=trees))
        for rel, data in files.items():
            target = tmp / rel
            if not target.resolve().is_relative_to(tmp.resolve()):
                raise ValueError(f"tree path escapes the tree: {rel!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o644)
        tmp.chmod(0o755)
        tmp.rename(tree)
        link = self.root / serial
        old = os.readlink(link) if link.is_symlink() else None
        if link.exists() and not link.is_symlink():
            shutil.rmtree(link)  # a plain directory from elsewhere: replaced once, symlinked from now on
        new_link = self.root / f".{serial}.link-{next(self._counter)}"
        new_link.symlink_to(f"{TREES}/{name}")
        os.replace(new_link, link)
        if old is not None and old != f"{TREES}/{name}":
            shutil.rmtree(self.root / old, ignore_errors=True)
        log.info("tftp staged %s: %d file(s) in %s", serial, len(files), tree)
        return tree

    def unstage(self, serial: str) -> None:
        self._check_name(serial)
        log.info("tftp unstaged %s", serial)
        link = self.root / serial
        if link.is_symlink():
            target = self.root / os.readlink(link)
            link.unlink()
            shutil.rmtree(target, ignore_errors=True)
        elif link.exists():
            shutil.rmtree(link)

    @property
    def logged(self) -> bool:
        """Whether the server's transfer log is readable (``served`` is then meaningful; else use ``verify``)."""
        return self.read_log is not None

    def served(self, since: float = 0.0) -> list[dict[str, Any]]:
        if self.read_log is None:
            return []
        out = []
        for line in self.read_log().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and float(entry.get("ts", 0)) >= since:
                out.append(entry)
        return out

    def verify(self, server: str, serial: str, files: dict[str, bytes], *, port: int = 69,
               timeout: float = 5.0) -> list[str]:
        """Download each file of the board's tree over TFTP; the list of mismatches (empty: all served right)."""
        bad = []
        with tempfile.TemporaryDirectory(prefix="malina-tftp-verify-") as tmp:
            client = tftpy.TftpClient(server, port, options={"blksize": 1468})
            for i, (rel, want) in enumerate(sorted(files.items())):
                out = Path(tmp) / str(i)
                try:
                    client.download(f"{serial}/{rel}", str(out), timeout=int(max(1, timeout)), retries=2)
                    got = out.read_bytes()
                except (tftpy.TftpException, OSError) as exc:
                    bad.append(f"{serial}/{rel}: {exc}")
                    continue
                if got != want:
                    bad.append(f"{serial}/{rel}: {len(got)} bytes served, {len(want)} expected, contents differ")
        return bad
