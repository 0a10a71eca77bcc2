"""A throttled "SD card" for the install benchmark: a FUSE filesystem with one file, ``card.img``.

Writes reach the daemon synchronously (no FUSE write-back cache) and are paced by a token bucket at ``rate``
bytes/s, as the card's controller would: a writer cannot go faster than the card, whatever the page cache
could take. ``fsync``/``flush`` return only when everything written so far would be on the card. Reads are
not throttled (a card reads several times faster than it writes). The data lives in a sparse backing file.

    with ThrottledCard(workdir, size=1 << 30, rate=50e6) as card:   # card.path is the card image
        ...

The daemon runs in a child process; the mount is removed and the child stopped on exit, also after an error
or Ctrl-C. Needs /dev/fuse, libfuse2 and the ``fusepy`` package (all installed by ``make setup``).
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import stat
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

NAME = "card.img"


class _Bucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.free_at = time.monotonic()
        self.lock = threading.Lock()

    def take(self, nbytes: int) -> None:
        with self.lock:
            now = time.monotonic()
            self.free_at = max(self.free_at, now) + nbytes / self.rate
            wait = self.free_at - now
        if wait > 0:
            time.sleep(wait)

    def drain(self) -> None:
        with self.lock:
            wait = self.free_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)


def _serve(mountpoint: str, backing: str, size: int, rate: float) -> None:
    from fuse import FUSE, FuseOSError, Operations  # type: ignore[import-untyped]

    bucket = _Bucket(rate)
    fd = os.open(backing, os.O_RDWR)
    counters = {"written": 0}

    class CardFs(Operations):  # type: ignore[misc]
        def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
            now = time.time()
            if path == "/":
                return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2, "st_atime": now, "st_mtime": now,
                        "st_ctime": now}
            if path == f"/{NAME}":
                return {"st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": size, "st_atime": now,
                        "st_mtime": now, "st_ctime": now}
            raise FuseOSError(errno.ENOENT)

        def readdir(self, path: str, fh: Any) -> list[str]:
            return [".", "..", NAME]

        def open(self, path: str, flags: int) -> int:
            if path != f"/{NAME}":
                raise FuseOSError(errno.ENOENT)
            return 0

        def truncate(self, path: str, length: int, fh: Any = None) -> None:
            if length != size:  # a card has the size it has; "truncating" it to itself is a no-op
                raise FuseOSError(errno.EPERM)

        def read(self, path: str, length: int, offset: int, fh: Any) -> bytes:
            return os.pread(fd, min(length, max(0, size - offset)), offset)

        def write(self, path: str, data: bytes, offset: int, fh: Any) -> int:
            if offset + len(data) > size:
                raise FuseOSError(errno.ENOSPC)
            bucket.take(len(data))
            counters["written"] += len(data)
            return os.pwrite(fd, data, offset)

        def flush(self, path: str, fh: Any) -> None:
            bucket.drain()

        def fsync(self, path: str, datasync: Any, fh: Any) -> None:
            bucket.drain()

        def release(self, path: str, fh: Any) -> None:
            return None

        def statfs(self, path: str) -> dict[str, int]:
            return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": size // 4096, "f_bfree": 0, "f_bavail": 0}

    FUSE(CardFs(), mountpoint, foreground=True, nothreads=False, big_writes=True, max_write=131072,
         allow_other=False)


class ThrottledCard:
    def __init__(self, workdir: Path, *, size: int, rate: float) -> None:
        self.mountpoint = workdir / "cardfs"
        self.backing = workdir / "card.backing"
        self.size = size
        self.rate = rate
        self.proc: multiprocessing.Process | None = None

    @property
    def path(self) -> Path:
        return self.mountpoint / NAME

    def __enter__(self) -> ThrottledCard:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with self.backing.open("wb") as f:
            f.truncate(self.size)
        self.proc = multiprocessing.get_context("fork").Process(
            target=_serve, args=(str(self.mountpoint), str(self.backing), self.size, self.rate), daemon=True)
        self.proc.start()
        deadline = time.monotonic() + 10
        while not self.path.exists():
            if not self.proc.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("the throttled card (FUSE) did not mount: is /dev/fuse there, libfuse2 and "
                                   "fusepy installed (make setup)?")
            time.sleep(0.05)
        return self

    def mounted(self) -> bool:
        target = str(self.mountpoint.resolve())
        with open("/proc/mounts") as f:
            return any(line.split()[1] == target for line in f)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for cmd in (["fusermount", "-u", str(self.mountpoint)], ["fusermount3", "-u", str(self.mountpoint)],
                    ["umount", "-l", str(self.mountpoint)]):
            if not self.mounted():
                break
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(cmd, capture_output=True, timeout=20, check=False)
        if self.proc is not None:
            self.proc.join(timeout=10)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(timeout=5)
            self.proc = None
        self.backing.unlink(missing_ok=True)
