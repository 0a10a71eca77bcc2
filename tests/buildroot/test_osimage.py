"""harness.sim.media.osimage: test Ubuntu-for-Raspberry-Pi images built without root or mounting."""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import subprocess
from pathlib import Path

import pytest

from harness.sim.media.osimage import (
    MiB,
    OsImage,
    OsImageError,
    build_image,
    read_rootfs_file,
    sha256_file,
    write_bmap,
)


def _mtype(img: Path, offset: int, path: str) -> bytes:
    return subprocess.run(["mtype", "-i", f"{img}@@{offset}", f"::/{path}"], capture_output=True, check=True,
                          env=dict(os.environ, MTOOLS_SKIP_CHECK="1")).stdout


def _tag(bmap_text: str, name: str) -> int:
    """A number of the bmap (bmaptool's own file also names the tags in its comments)."""
    found = re.search(rf"<{name}>\s*(\d+)\s*</{name}>", bmap_text)
    assert found is not None, name
    return int(found.group(1))


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
    mapped = _tag(text, "MappedBlocksCount")
    assert 0 < mapped * 4096 < plain_image.size // 2  # sparse: mostly holes


def test_bmap_leaves_only_zeros_unmapped(plain_image: OsImage) -> None:
    """What the agent relies on when it skips unmapped bytes: every one of them is zero."""
    assert plain_image.bmap is not None
    text = plain_image.bmap.read_text()
    block = _tag(text, "BlockSize")
    raw = bytearray(plain_image.raw.read_bytes())
    spans = re.findall(r"<Range[^>]*>\s*([0-9-]+)\s*</Range>", text)
    assert spans
    for span in spans:
        a, _, b = span.partition("-")
        raw[int(a) * block:(int(b or a) + 1) * block] = bytes((int(b or a) + 1 - int(a)) * block)
    assert raw.count(0) == len(raw)


def test_missing_bmaptool_is_named(plain_image: OsImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OsImageError, match=r"bmaptool is not installed \(Debian package bmap-tools\)"):
        write_bmap(plain_image.raw, tmp_path / "x.bmap")


def test_sha256_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"malina" * 100_000)
    assert sha256_file(f) == hashlib.sha256(b"malina" * 100_000).hexdigest()


def test_image_is_sparse(plain_image: OsImage) -> None:
    assert plain_image.raw.stat().st_blocks * 512 < plain_image.size // 2


def test_data_fraction(tmp_path: Path) -> None:
    img = build_image(tmp_path, size=96 * MiB, boot_size=40 * MiB, data_bytes=24 * MiB, bmap=True)
    assert img.bmap is not None
    mapped = _tag(img.bmap.read_text(), "MappedBlocksCount") * 4096
    assert 24 * MiB <= mapped <= 32 * MiB


@pytest.mark.parametrize("kw", [{"size": 30 * MiB}, {"size": 64 * MiB + 1}, {"data_bytes": 60 * MiB},
                                {"layout": "weird"}])
def test_bad_options(tmp_path: Path, kw: dict[str, object]) -> None:
    with pytest.raises(OsImageError):
        build_image(tmp_path, **kw)  # type: ignore[arg-type]
