"""Test "Ubuntu for Raspberry Pi" disk images, built without root and without mounting anything.

Layout (as Ubuntu's preinstalled raspi images): an MBR (``sfdisk``), partition 1 a FAT32 boot partition
(``mkfs.vfat`` on a separate file, filled with ``mcopy``), partition 2 an ext4 rootfs labelled ``writable``
(``mkfs.ext4 -d <dir>`` on a separate file). Both filesystems are copied into the disk image at their
partition offsets, data extents only, so the image stays sparse. The boot files are small stand-ins for
``start4.elf``, ``fixup4.dat``, ``config.txt``, ``cmdline.txt`` and ``kernel8.img``, either at the top of
the boot partition (``layout="plain"``) or under ``current/`` (``layout="current"``, Ubuntu 25.10+).

Options: the image size, an amount of incompressible data in the rootfs (``data_bytes``, for the
benchmarks' "25 % data"), xz compression and a bmap of the image's data ranges (``bmaptool create``). The
result names the files, the sha256 and the size of the decompressed image.

Host tools (Debian packages in parentheses; scripts/setup.sh installs them): sfdisk (fdisk), mkfs.vfat
(dosfstools), mcopy/mmd (mtools), mkfs.ext4 (e2fsprogs), xz (xz-utils), bmaptool (bmap-tools, only for a bmap).
Everything here runs on the host (harness session, tests, benches), never inside a lab container.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.sim.media import firmware

MiB = 1024 * 1024
SECTOR = 512
BOOT_START = 1 * MiB

# the Debian package of each host tool, for the error when one is missing
PACKAGES = {"sfdisk": "fdisk", "mkfs.vfat": "dosfstools", "mcopy": "mtools", "mmd": "mtools",
            "mkfs.ext4": "e2fsprogs", "bmaptool": "bmap-tools"}

Layout = Literal["plain", "current"]
Compression = Literal["xz", "none"]

CMDLINE = (
    "console=serial0,115200 dwc_otg.lpm_enable=0 console=tty1 root=LABEL=writable rootfstype=ext4 "
    "rootwait fixrtc\n"
)
CONFIG_TXT = """[all]
kernel=kernel8.img
cmdline=cmdline.txt
[pi4]
arm_64bit=1
enable_uart=1
"""
OS_RELEASE = """PRETTY_NAME="Ubuntu (malina test image)"
NAME="Ubuntu"
ID=ubuntu
VERSION_ID="24.04"
"""
NETPLAN_DEFAULT = """network:
  version: 2
  ethernets:
    eth0:
      dhcp4: true
"""


class OsImageError(RuntimeError):
    """A tool failed or the options make no image."""


@dataclass(frozen=True)
class OsImage:
    """A built test image. ``path`` is what a file server serves (``raw`` or its ``.xz``)."""

    raw: Path
    path: Path
    compression: Compression
    sha256: str
    size: int
    layout: Layout
    bmap: Path | None
    boot_offset: int
    root_offset: int
    root_label: str


def _run(cmd: list[str], *, stdin: bytes | None = None) -> None:
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C")
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, env=env, check=False)
    except FileNotFoundError as exc:
        package = f" (Debian package {PACKAGES[cmd[0]]})" if cmd[0] in PACKAGES else ""
        raise OsImageError(f"{cmd[0]} is not installed{package}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise OsImageError(f"{' '.join(cmd[:3])} failed ({proc.returncode}): {err}")


def _boot_files(layout: Layout) -> dict[str, bytes]:
    prefix = "current/" if layout == "current" else ""
    files = {
        "start4.elf": firmware.standin("start4.elf"),  # the real sizes (firmware.py)
        "fixup4.dat": firmware.standin("fixup4.dat"),
        "config.txt": CONFIG_TXT.encode(),
        "cmdline.txt": CMDLINE.encode(),
        "kernel8.img": b"malina stand-in kernel8.img\n" + bytes(range(256)) * 64,
    }
    return {prefix + name: data for name, data in files.items()}


def _make_boot_fs(path: Path, size: int, layout: Layout) -> None:
    with path.open("wb") as f:
        f.truncate(size)
    _run(["mkfs.vfat", "-F", "32", "-S", str(SECTOR), "-s", "1", "-n", "system-boot", str(path)])
    staging = path.with_suffix(".files")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        if layout == "current":
            _run(["mmd", "-i", str(path), "::/current"])
        for name, data in _boot_files(layout).items():
            src = staging / name.replace("/", "_")
            src.write_bytes(data)
            _run(["mcopy", "-i", str(path), str(src), f"::/{name}"])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _make_root_fs(path: Path, size: int, label: str, data_bytes: int, seed: int) -> None:
    tree = path.with_suffix(".tree")
    shutil.rmtree(tree, ignore_errors=True)
    try:
        for d in ("etc/netplan", "etc/cloud/cloud.cfg.d", "etc/systemd/system/multi-user.target.wants",
                  "home", "usr/bin", "var/lib", "root"):
            (tree / d).mkdir(parents=True)
        (tree / "etc/hostname").write_text("ubuntu\n")
        (tree / "etc/os-release").write_text(OS_RELEASE)
        (tree / "etc/netplan/50-cloud-init.yaml").write_text(NETPLAN_DEFAULT)
        (tree / "etc/netplan/50-cloud-init.yaml").chmod(0o600)
        if data_bytes > 0:
            rng = random.Random(seed)
            with (tree / "var/lib/malina-data.bin").open("wb") as f:
                left = data_bytes
                while left > 0:
                    n = min(left, 4 * MiB)
                    f.write(rng.randbytes(n))
                    left -= n
        with path.open("wb") as f:
            f.truncate(size)
        _run(["mkfs.ext4", "-q", "-F", "-L", label, "-E", "root_owner=0:0", "-d", str(tree), str(path)])
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def _data_extents(path: Path) -> Iterator[tuple[int, int]]:
    """(start, end) byte ranges holding data (SEEK_DATA/SEEK_HOLE)."""
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                return
            end = os.lseek(fd, start, os.SEEK_HOLE)
            yield start, end
            pos = end
    finally:
        os.close(fd)


def _copy_sparse(src: Path, dst_fd: int, offset: int) -> None:
    with src.open("rb") as f:
        for start, end in _data_extents(src):
            f.seek(start)
            left = end - start
            pos = offset + start
            while left > 0:
                chunk = f.read(min(left, 4 * MiB))
                if not chunk:
                    raise OsImageError(f"short read from {src}")
                if chunk.count(0) != len(chunk):
                    os.pwrite(dst_fd, chunk, pos)
                pos += len(chunk)
                left -= len(chunk)


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_bmap(image: Path, bmap: Path) -> None:
    """Write the block map of ``image`` with ``bmaptool create`` (format 2.0, per-range sha256). The image
    must be sparse: bmaptool maps what the filesystem reports as data, and the agent checks that every byte
    it leaves unmapped is zero, which holds because ``_copy_sparse`` writes no all-zero chunk."""
    _run(["bmaptool", "create", "-o", str(bmap), str(image)])


def build_image(
    workdir: Path,
    *,
    name: str = "ubuntu-raspi",
    size: int = 64 * MiB,
    boot_size: int = 40 * MiB,
    layout: Layout = "plain",
    compress: bool = False,
    bmap: bool = False,
    data_bytes: int = 0,
    root_label: str = "writable",
    seed: int = 1,
) -> OsImage:
    """Build ``<workdir>/<name>.img`` (and ``.img.xz`` / ``.bmap``) and describe it."""
    if layout not in ("plain", "current"):
        raise OsImageError(f"unknown layout {layout!r}")
    if size % MiB or boot_size % MiB:
        raise OsImageError("size and boot_size must be whole MiB")
    root_start = BOOT_START + boot_size
    root_size = size - root_start
    if root_size < 8 * MiB:
        raise OsImageError(f"size {size} leaves less than 8 MiB for the rootfs")
    if data_bytes < 0 or data_bytes > root_size - 4 * MiB:
        raise OsImageError(f"data_bytes {data_bytes} does not fit a {root_size}-byte rootfs")
    workdir.mkdir(parents=True, exist_ok=True)
    raw = workdir / f"{name}.img"
    boot_fs = workdir / f"{name}.boot.vfat"
    root_fs = workdir / f"{name}.root.ext4"
    try:
        _make_boot_fs(boot_fs, boot_size, layout)
        _make_root_fs(root_fs, root_size, root_label, data_bytes, seed)
        with raw.open("wb") as f:
            f.truncate(size)
        script = (
            "label: dos\nlabel-id: 0x6d616c69\nunit: sectors\n\n"
            f"start={BOOT_START // SECTOR}, size={boot_size // SECTOR}, type=c, bootable\n"
            f"start={root_start // SECTOR}, size={root_size // SECTOR}, type=83\n"
        )
        _run(["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(raw)], stdin=script.encode())
        fd = os.open(raw, os.O_WRONLY)
        try:
            _copy_sparse(boot_fs, fd, BOOT_START)
            _copy_sparse(root_fs, fd, root_start)
        finally:
            os.close(fd)
    finally:
        boot_fs.unlink(missing_ok=True)
        root_fs.unlink(missing_ok=True)
    sha = sha256_file(raw)
    bmap_path: Path | None = None
    if bmap:
        bmap_path = workdir / f"{name}.bmap"
        write_bmap(raw, bmap_path)
    served = raw
    compression: Compression = "none"
    if compress:
        served = workdir / f"{name}.img.xz"
        with served.open("wb") as out:
            proc = subprocess.run(["xz", "-T2", "-0", "-c", str(raw)], stdout=out, stderr=subprocess.PIPE,
                                  check=False)
        if proc.returncode != 0:
            raise OsImageError(f"xz failed: {proc.stderr.decode(errors='replace').strip()}")
        compression = "xz"
    return OsImage(raw=raw, path=served, compression=compression, sha256=sha, size=size, layout=layout,
                   bmap=bmap_path, boot_offset=BOOT_START, root_offset=root_start, root_label=root_label)


def blank_card(path: Path, size: int, *, fill: bytes = b"") -> Path:
    """A stand-in SD card: a sparse file of ``size`` bytes, optionally starting with ``fill``."""
    with path.open("wb") as f:
        f.truncate(size)
        if fill:
            f.write(fill)
    return path


def read_rootfs_file(image: Path, root_offset: int, path: str) -> bytes:
    """A file of an image's ext4 rootfs, read with debugfs (no mounting)."""
    proc = subprocess.run(["debugfs", "-R", f"cat {path}", f"{image}?offset={root_offset}"],
                          capture_output=True, check=False, env=dict(os.environ, DEBUGFS_PAGER="__none__"))
    if proc.returncode != 0:
        raise OsImageError(f"debugfs failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout
