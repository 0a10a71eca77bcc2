"""harness.sim.media.osimage: test Ubuntu-for-Raspberry-Pi images built without root or mounting."""

from __future__ import annotations

import hashlib
import lzma
import os
import subprocess
from pathlib import Path

import pytest

from harness.sim.media.osimage import MiB, OsImage, OsImageError, build_image, read_rootfs_file


def _mtype(img: Path, offset: int, path: str) -> bytes:
    return subprocess.run(["mtype", "-i", f"{img}@@{offset}", f"::/{path}"], capture_output=True, check=True,
                          env=dict(os.environ, MTOOLS_SKIP_CHECK="1")).stdout


def test_plain_image(plain_image: OsImage) -> None:
    raw = plain_image.raw.read_bytes()
    assert len(raw) == plain_image.size
    assert hashlib.sha256(raw).hexdigest() == plain_image.sha256
    assert raw[510:512] == b"\x55\xaa"
    assert raw[446 + 4] == 0x0C and raw[446 + 16 + 4] == 0x83  # FAT32 LBA, Linux
    assert lzma.decompress(plain_image.path.read_bytes()) == raw
    assert b"root=LABEL=writable" in _mtype(plain_image.raw, plain_image.boot_offset, "cmdline.txt")
    assert _mtype(plain_image.raw, plain_image.boot_offset, "kernel8.img").startswith(b"malina stand-in")
    assert read_rootfs_file(plain_image.raw, plain_image.root_offset, "/etc/hostname") == b"ubuntu\n"
    data = read_rootfs_file(plain_image.raw, plain_image.root_offset, "/var/lib/malina-data.bin")
    assert len(data) == 2 * MiB


def test_current_layout(current_image: OsImage) -> None:
    assert current_image.compression == "none" and current_image.path == current_image.raw
    for name in ("start4.elf", "fixup4.dat", "config.txt", "cmdline.txt", "kernel8.img"):
        assert _mtype(current_image.raw, current_image.boot_offset, f"current/{name}")
    r = subprocess.run(["mtype", "-i", f"{current_image.raw}@@{current_image.boot_offset}", "::/cmdline.txt"],
                       capture_output=True, check=False, env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
    assert r.returncode != 0


def test_bmap_is_valid_for_bmaptool(plain_image: OsImage, tmp_path: Path) -> None:
    assert plain_image.bmap is not None
    out = tmp_path / "copy.img"
    r = subprocess.run(["bmaptool", "copy", "--bmap", str(plain_image.bmap), str(plain_image.raw), str(out)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr  # bmaptool checks every range's sha256 and the file checksum
    assert out.read_bytes() == plain_image.raw.read_bytes()
    text = plain_image.bmap.read_text()
    assert f"<ImageSize> {plain_image.size} </ImageSize>" in text
    mapped = int(text.split("<MappedBlocksCount>")[1].split("<")[0])
    assert 0 < mapped * 4096 < plain_image.size // 2  # sparse: mostly holes


def test_image_is_sparse(plain_image: OsImage) -> None:
    assert plain_image.raw.stat().st_blocks * 512 < plain_image.size // 2


def test_data_fraction(tmp_path: Path) -> None:
    img = build_image(tmp_path, size=96 * MiB, boot_size=40 * MiB, data_bytes=24 * MiB, bmap=True)
    assert img.bmap is not None
    mapped = int(img.bmap.read_text().split("<MappedBlocksCount>")[1].split("<")[0]) * 4096
    assert 24 * MiB <= mapped <= 32 * MiB


@pytest.mark.parametrize("kw", [{"size": 30 * MiB}, {"size": 64 * MiB + 1}, {"data_bytes": 60 * MiB},
                                {"layout": "weird"}])
def test_bad_options(tmp_path: Path, kw: dict[str, object]) -> None:
    with pytest.raises(OsImageError):
        build_image(tmp_path, **kw)  # type: ignore[arg-type]
