"""A stand-in SD card as a FUSE file: paced like a card, and able to lie like a bad one.

Writes reach the daemon synchronously (no FUSE write-back cache) and are paced by a token bucket at ``rate``
bytes/s, as the card's controller would: a writer cannot go faster than the card, whatever the page cache
could take. ``fsync``/``flush`` return only when everything written so far would be on the card. Reads are
paced at ``read_rate`` (None: as fast as the daemon answers; a Pi 4's DDR50 card reads about twice as fast
as it writes). The data lives in a sparse backing file.

The kernel keeps the file's page cache across opens (``kernel_cache``), as it does for ``/dev/mmcblk0``:
what a writer wrote stays cached, so a reader that does not drop the cache is answered from RAM, not by the
card. A card that lies (``Lie``) is only caught by a reader who drops it:

* ``drop_after`` / ``drop_range``: writes past that many bytes in total, or to that byte range, are
  acknowledged and never stored (a dying card, a controller that lost its mapping);
* ``real_size``: a fake-capacity card: it reports ``size`` bytes but stores offset ``o`` at ``o % real_size``
  (what a counterfeit card's wrapping controller does);
* ``flip_at``: the byte at that offset reads back with its lowest bit flipped (a bit rot / read error the
  card does not report).

    with PacedCard(workdir, size=1 << 30, rate=50e6, read_rate=100e6) as card:   # card.path is the card
        ...

``mount_on``: mount the card on that regular file instead of ``<workdir>/cardfs/card.img`` (a FUSE file
system whose root is the card: a docker bind mount of that path hands the FUSE card to a container).

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
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType
from typing import Any

NAME = "card.img"


@dataclass(frozen=True)
class Lie:
    """How the card lies; all fields are byte counts or offsets, None: honest in that respect."""

    drop_after: int | None = None
    drop_range: tuple[int, int] | None = None
    real_size: int | None = None
    flip_at: int | None = None


class _Bucket:
    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.free_at = time.monotonic()
        self.lock = threading.Lock()

    def take(self, nbytes: int) -> None:
        if not self.rate:
            return
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


class _Store:
    """The card's cells: the backing file, through the lies."""

    def __init__(self, backing: str, size: int, lie: Lie) -> None:
        self.fd = os.open(backing, os.O_RDWR)
        self.size = size
        self.lie = lie
        self.cells = lie.real_size or size
        self.written = 0
        self.lock = threading.Lock()

    def _pieces(self, offset: int, length: int) -> list[tuple[int, int, int]]:
        """(offset in the request, cell offset, length) pieces, split where the fake capacity wraps."""
        out = []
        done = 0
        while done < length:
            cell = (offset + done) % self.cells
            n = min(length - done, self.cells - cell)
            out.append((done, cell, n))
            done += n
        return out

    def _kept(self, data: bytes, offset: int) -> list[tuple[int, bytes]]:
        """The parts of a write the card really stores, as (card offset, bytes)."""
        keep = [(offset, data)]
        if self.lie.drop_after is not None:
            with self.lock:
                budget = max(0, self.lie.drop_after - self.written)
                self.written += len(data)
            keep = [(offset, data[:budget])]
        if self.lie.drop_range is not None:
            lo, hi = self.lie.drop_range
            out = []
            for off, buf in keep:
                if off < lo:
                    out.append((off, buf[: max(0, lo - off)]))
                end = off + len(buf)
                if end > hi:
                    skip = max(0, hi - off)
                    out.append((off + skip, buf[skip:]))
            keep = out
        return [(off, buf) for off, buf in keep if buf]

    def write(self, data: bytes, offset: int) -> None:
        for off, buf in self._kept(data, offset):
            for start, cell, n in self._pieces(off, len(buf)):
                os.pwrite(self.fd, buf[start : start + n], cell)

    def read(self, length: int, offset: int) -> bytes:
        length = min(length, max(0, self.size - offset))
        buf = bytearray(length)
        for start, cell, n in self._pieces(offset, length):
            got = os.pread(self.fd, n, cell)
            buf[start : start + len(got)] = got
        flip = self.lie.flip_at
        if flip is not None and offset <= flip < offset + length:
            buf[flip - offset] ^= 0x01
        return bytes(buf)


def _serve(mountpoint: str, backing: str, size: int, rates: tuple[float | None, float | None], lie: Lie,
           single: bool) -> None:
    from fuse import FUSE, FuseOSError, Operations

    wbucket, rbucket = _Bucket(rates[0]), _Bucket(rates[1])
    store = _Store(backing, size, lie)
    card = "/" if single else f"/{NAME}"
    born = time.time()  # fixed times: a changing mtime would make the kernel drop its cache (auto_inval_data)

    class CardFs(Operations):  # type: ignore[misc]
        def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
            times = {"st_atime": born, "st_mtime": born, "st_ctime": born}
            if path == card:
                return {"st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": size, **times}
            if path == "/":
                return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2, **times}
            raise FuseOSError(errno.ENOENT)

        def readdir(self, path: str, fh: Any) -> list[str]:
            return [".", "..", NAME]

        def open(self, path: str, flags: int) -> int:
            if path != card:
                raise FuseOSError(errno.ENOENT)
            return 0

        def truncate(self, path: str, length: int, fh: Any = None) -> None:
            if length > size:  # a card has the size it has; "truncating" it is a no-op (open(..., "wb") works)
                raise FuseOSError(errno.ENOSPC)

        def read(self, path: str, length: int, offset: int, fh: Any) -> bytes:
            rbucket.take(min(length, max(0, size - offset)))
            return store.read(length, offset)

        def write(self, path: str, data: bytes, offset: int, fh: Any) -> int:
            if offset + len(data) > size:
                raise FuseOSError(errno.ENOSPC)
            wbucket.take(len(data))
            store.write(data, offset)
            return len(data)

        def flush(self, path: str, fh: Any) -> None:
            wbucket.drain()

        def fsync(self, path: str, datasync: Any, fh: Any) -> None:
            wbucket.drain()

        def release(self, path: str, fh: Any) -> None:
            return None

        def statfs(self, path: str) -> dict[str, int]:
            return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": size // 4096, "f_bfree": 0, "f_bavail": 0}

    # nonempty: libfuse2 refuses a mount point that is a non-empty file (a card file mounted over)
    extra = {"nonempty": True} if single else {}
    FUSE(CardFs(), mountpoint, foreground=True, nothreads=False, big_writes=True, max_write=131072,
         kernel_cache=True, allow_other=False, **extra)


class PacedCard:
    def __init__(self, workdir: Path, *, size: int, rate: float | None, read_rate: float | None = None,
                 lie: Lie | None = None, mount_on: Path | None = None) -> None:
        self.mountpoint = mount_on or workdir / "cardfs"
        self.backing = workdir / "card.backing"
        self.size = size
        self.rate = rate
        self.read_rate = read_rate
        self.lie = lie or Lie()
        self.single = mount_on is not None
        self.proc: BaseProcess | None = None

    @property
    def path(self) -> Path:
        return self.mountpoint if self.single else self.mountpoint / NAME

    def __enter__(self) -> PacedCard:
        if self.single:
            self.mountpoint.touch()
        else:
            self.mountpoint.mkdir(parents=True, exist_ok=True)
        with self.backing.open("wb") as f:
            f.truncate(self.lie.real_size or self.size)
        proc = multiprocessing.get_context("fork").Process(
            target=_serve, args=(str(self.mountpoint), str(self.backing), self.size, (self.rate, self.read_rate),
                                 self.lie, self.single), daemon=True)
        self.proc = proc
        proc.start()
        deadline = time.monotonic() + 10
        while not (self.mounted() and self.path.exists()):
            if not proc.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("the paced card (FUSE) did not mount: is /dev/fuse there, libfuse2 and "
                                   "fusepy installed (make setup)?")
            time.sleep(0.05)
        return self

    def fill(self, data: bytes, offset: int = 0) -> None:
        """Put data in the card's cells directly (an old card's content), bypassing the FUSE file and its lies."""
        with self.backing.open("r+b") as f:
            f.seek(offset)
            f.write(data)

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
