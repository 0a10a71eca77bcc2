"""An SD card image read without mounting: its MBR, the FAT boot partition with mtools
(``-i <card>@@<offset>``) and the ext4 root partition with debugfs (``<card>?offset=<offset>``, read and
rename). Used by the simulated bootloader's SD mode, the installed OS, the harness and the tests to look into
card files.
"""

from __future__ import annotations

import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

SECTOR = 512
FAT_TYPES = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E}
LINUX_TYPE = 0x83
TOOL_TIMEOUT = 30


class CardError(RuntimeError):
    """The card cannot be read as the bootloader needs it (no MBR, no FAT partition, tool failure)."""


@dataclass(frozen=True)
class Partition:
    number: int
    type: int
    start: int  # bytes
    size: int  # bytes


def _env() -> dict[str, str]:
    return dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLS_NO_VFAT="0", DEBUGFS_PAGER="__none__")


def read_mbr(card: Path) -> list[Partition]:
    """The primary partitions of an MBR card; CardError when there is no valid MBR."""
    try:
        with card.open("rb") as f:
            head = f.read(SECTOR)
    except OSError as exc:
        raise CardError(f"cannot read {card}: {exc.strerror}") from None
    if len(head) < SECTOR or head[510:512] != b"\x55\xaa":
        raise CardError("no MBR signature")
    parts = []
    for i in range(4):
        entry = head[446 + 16 * i : 446 + 16 * (i + 1)]
        ptype = entry[4]
        start, count = struct.unpack("<II", entry[8:16])
        if ptype and count:
            parts.append(Partition(i + 1, ptype, start * SECTOR, count * SECTOR))
    if not parts:
        raise CardError("empty partition table")
    return parts


def boot_partition(card: Path) -> Partition:
    for p in read_mbr(card):
        if p.type in FAT_TYPES:
            return p
    raise CardError("no FAT partition")


def root_partition(card: Path) -> Partition:
    parts = read_mbr(card)
    linux = [p for p in parts if p.type == LINUX_TYPE]
    if not linux:
        raise CardError("no Linux (0x83) partition")
    return linux[0]


def _fat(card: Path, part: Partition) -> str:
    return f"{card}@@{part.start}"


def fat_read(card: Path, part: Partition, path: str) -> bytes | None:
    """A file of the FAT partition (``mtype``); None when it does not exist."""
    try:
        proc = subprocess.run(
            ["mtype", "-i", _fat(card, part), f"::/{path}"],
            capture_output=True, env=_env(), timeout=TOOL_TIMEOUT, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CardError(f"mtype failed: {exc}") from None
    if proc.returncode != 0:
        return None
    return proc.stdout


def fat_list(card: Path, part: Partition, folder: str = "") -> list[str] | None:
    """Names in a FAT folder (``mdir -b``); None when the filesystem or folder is unreadable."""
    try:
        proc = subprocess.run(
            ["mdir", "-b", "-i", _fat(card, part), f"::/{folder}"],
            capture_output=True, env=_env(), timeout=TOOL_TIMEOUT, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CardError(f"mdir failed: {exc}") from None
    if proc.returncode != 0:
        return None
    names = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line:
            names.append(line.rsplit("/", 1)[-1])
    return names


def ext4_read(card: Path, part: Partition, path: str) -> bytes | None:
    """A file of the ext4 partition (``debugfs cat``); None when it does not exist."""
    try:
        probe = subprocess.run(
            ["debugfs", "-R", f"stat {path}", f"{card}?offset={part.start}"],
            capture_output=True, env=_env(), timeout=TOOL_TIMEOUT, check=False,
        )
        if probe.returncode != 0 or b"File not found" in probe.stderr or b"Inode:" not in probe.stdout:
            return None
        proc = subprocess.run(
            ["debugfs", "-R", f"cat {path}", f"{card}?offset={part.start}"],
            capture_output=True, env=_env(), timeout=TOOL_TIMEOUT, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CardError(f"debugfs failed: {exc}") from None
    if proc.returncode != 0:
        return None
    return proc.stdout


def ext4_rename(card: Path, part: Partition, src: str, dst: str) -> None:
    """Rename a file on the ext4 partition (``debugfs -w``: link the new name, unlink the old one; the
    inode's link count is left as it was, which is what a rename does)."""
    image = f"{card}?offset={part.start}"
    for request in (f"ln {src} {dst}", f"unlink {src}"):
        try:
            proc = subprocess.run(
                ["debugfs", "-w", "-R", request, image],
                capture_output=True, env=_env(), timeout=TOOL_TIMEOUT, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CardError(f"debugfs failed: {exc}") from None
        err = proc.stderr.decode("utf-8", "replace")
        if proc.returncode != 0 or "rror" in err or "not found" in err:
            raise CardError(f"debugfs {request!r}: {err.strip() or proc.returncode}")
