"""Read-back verification (issue 13, point 4), run for real on the host: the unchanged agent writes to a FUSE
card (``testkit.pacedcard``) whose page cache the kernel keeps across opens, as for ``/dev/mmcblk0``, so what
the agent wrote stays cached and only a read-back that drops the cache asks the card. A card that lies —
drops writes after some bytes or in a range, wraps around past a fake capacity, flips a bit on read — must end
with exit 6, a failure report ("read-back mismatch: ..."), the head zero and no success at the backend; the
bare ``write`` without its read-back (``--no-readback``) is fooled by the same cards, which is what shows that
the read-back catches them. An honest card installs, with the phases netbooting, writing, verifying,
configured in that order."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.sim.media.osimage import BOOT_START, MiB, OsImage
from testkit.agent import run_agent
from testkit.agent_backend import BackendStub
from testkit.pacedcard import Lie, PacedCard

CARD = 80 * MiB
OLD = b"OLD-BOOTABLE-CARD" * 64
MISMATCH = re.compile(r"read-back mismatch: card returned ([0-9a-f]{64}) for (\d+) bytes, expected ([0-9a-f]{64})")


def _lies(img: OsImage) -> dict[str, Lie]:
    """Lies that hit data the image has, mapped by its bmap too (the ext4 superblock, the FAT boot sector)."""
    superblock = img.root_offset + 1024
    return {
        "drop-after": Lie(drop_after=2 * MiB),  # the zeroed head and the body's first MiB, then nothing
        "drop-range": Lie(drop_range=(img.root_offset, img.root_offset + MiB)),
        # 80 MiB claimed, root_offset - BOOT_START real: the rootfs lands on the boot partition's cells
        "wrap": Lie(real_size=img.root_offset - BOOT_START),
        "flip": Lie(flip_at=superblock),
    }


def _old(card: PacedCard) -> None:
    """An old OS on the card: an MBR signature, old data."""
    card.fill(OLD)
    card.fill(b"\x55\xaa", 510)


def _cells(card: PacedCard, offset: int, size: int) -> bytes:
    """What the card's cells hold (its backing file), whatever the FUSE file or the page cache says."""
    with card.backing.open("rb") as f:
        f.seek(offset)
        return f.read(size)


def _install(board: dict[str, str], backend: BackendStub, img: OsImage, card: PacedCard, *,
             bmap: bool) -> tuple[int, str]:
    url = backend.serve("image", img.path)
    bmap_url = backend.serve("image.bmap", img.bmap) if bmap and img.bmap else None
    backend.set_scenario(image_url=url, sha256=img.sha256, size=img.size, compression="xz", bmap_url=bmap_url)
    r = run_agent({**board, "MALINA_DISK": str(card.path)}, "install", "--url", backend.url)
    return r.returncode, r.stderr


def _phases(backend: BackendStub) -> list[str]:
    """The progress phases, repeats collapsed."""
    out: list[str] = []
    for p in backend.state.progress:
        if not out or out[-1] != p["phase"]:
            out.append(p["phase"])
    return out


def test_honest_card_installs_with_verifying_between_writing_and_configured(
        board: dict[str, str], backend: BackendStub, plain_image: OsImage, tmp_path: Path) -> None:
    raw = plain_image.raw.read_bytes()
    with PacedCard(tmp_path / "fuse", size=CARD, rate=25e6, read_rate=20e6) as card:
        _old(card)
        rc, err = _install(board, backend, plain_image, card, bmap=False)
        assert rc == 0, err[-3000:]
        # the head and the boot partition as in the image (the agent then wrote files into the rootfs)
        assert _cells(card, 0, plain_image.root_offset) == raw[: plain_image.root_offset]
    assert _phases(backend) == ["netbooting", "writing", "verifying", "configured"], backend.state.progress
    verifying = [p for p in backend.state.progress if p["phase"] == "verifying"]
    # the write at 25 MB/s and the read at 20 MB/s take seconds: periodic reports of the bytes read back
    assert len(verifying) >= 2 and all(p["bytes_total"] == plain_image.size for p in verifying), verifying
    assert 0 < max(p["bytes_written"] for p in verifying) <= plain_image.size, verifying
    assert re.search(r"malina: verifying \d+/\d+ MiB", err), err[-3000:]
    m = re.search(r"image verified: \d+ bytes, sha256 [0-9a-f]{64}, read back from the card \((\d+) bytes read", err)
    assert m and int(m.group(1)) == plain_image.size - MiB, err[-3000:]  # the whole body, the head is in RAM
    assert [r["status"] for r in backend.state.results] == ["success"]
    assert backend.state.events[-1] == "result success"


def test_bmap_read_back_reads_only_the_mapped_ranges(board: dict[str, str], backend: BackendStub,
                                                      plain_image: OsImage, tmp_path: Path) -> None:
    assert plain_image.bmap is not None
    mapped = 0
    for a, _, b in re.findall(r"<Range[^>]*>\s*(\d+)(-(\d+))?\s*</Range>", plain_image.bmap.read_text()):
        first, last = int(a), int(b or a)
        lo, hi = max(first * 4096, MiB), min((last + 1) * 4096, plain_image.size)
        mapped += max(0, hi - lo)
    with PacedCard(tmp_path / "fuse", size=CARD, rate=None) as card:
        _old(card)
        rc, err = _install(board, backend, plain_image, card, bmap=True)
    assert rc == 0, err[-3000:]
    m = re.search(r"read back from the card \((\d+) bytes read", err)
    assert m and int(m.group(1)) == mapped < plain_image.size // 2, (mapped, err[-3000:])
    assert _phases(backend)[-2:] == ["verifying", "configured"], backend.state.progress


@pytest.mark.parametrize("bmap", [False, True], ids=["full", "bmap"])
@pytest.mark.parametrize("lie", ["drop-after", "drop-range", "wrap", "flip"])
def test_a_lying_card_ends_failed(board: dict[str, str], backend: BackendStub, plain_image: OsImage,
                                  tmp_path: Path, lie: str, bmap: bool) -> None:
    with PacedCard(tmp_path / "fuse", size=CARD, rate=None, lie=_lies(plain_image)[lie]) as card:
        _old(card)
        rc, err = _install(board, backend, plain_image, card, bmap=bmap)
        head = _cells(card, 0, MiB)
    assert rc == 6, err[-3000:]
    m = MISMATCH.search(err)
    assert m, err[-3000:]
    assert m.group(1) != plain_image.sha256 and m.group(3) == plain_image.sha256
    assert int(m.group(2)) == plain_image.size
    assert head == bytes(MiB), "a card that failed its read-back was left with a head"
    res = backend.state.results
    assert [r["status"] for r in res] == ["failure"], res
    assert MISMATCH.search(res[0]["error"]) and res[0]["sha256"] == m.group(1)
    assert "verifying" in _phases(backend) and "configured" not in _phases(backend), backend.state.progress
    assert "INSTALL FAILED: read-back mismatch" in err and "INSTALL OK" not in err


@pytest.mark.parametrize("lie", ["drop-range", "flip"])
def test_only_the_read_back_catches_the_lie(board: dict[str, str], backend: BackendStub, plain_image: OsImage,
                                            tmp_path: Path, lie: str) -> None:
    """The bare write of the same image to the same lying card: without the read-back it reports success (the
    stream's hash matched and everything it wrote is still in the page cache); with it, exit 6, head zero."""
    url = backend.serve("image", plain_image.path)
    args = ["write", "--url", url, "--sha256", plain_image.sha256, "--size", str(plain_image.size),
            "--compression", "xz"]
    for extra, want in ((["--no-readback"], 0), ([], 6)):
        with PacedCard(tmp_path / f"fuse{len(extra)}", size=CARD, rate=None, lie=_lies(plain_image)[lie]) as card:
            r = run_agent({**board, "MALINA_DISK": str(card.path)}, *args, *extra)
            head = _cells(card, 0, MiB)
        assert r.returncode == want, r.stderr[-3000:]
        if want == 0:
            assert head == plain_image.raw.read_bytes()[:MiB], "the write did not commit the head"
        else:
            assert MISMATCH.search(r.stderr) and head == bytes(MiB), r.stderr[-3000:]


def test_a_card_that_drops_its_head_write_fails(board: dict[str, str], backend: BackendStub,
                                                plain_image: OsImage, tmp_path: Path) -> None:
    """The body reads back right, but the head written last never reaches the card: the head's read-back fails
    the install (the card keeps its old head: it ignores the zeroing too, nothing the agent can do)."""
    with PacedCard(tmp_path / "fuse", size=CARD, rate=None, lie=Lie(drop_range=(0, 512))) as card:
        _old(card)
        rc, err = _install(board, backend, plain_image, card, bmap=False)
        head = _cells(card, 0, 512)
    assert rc == 6, err[-3000:]
    assert "read-back mismatch: the card's head" in err, err[-3000:]
    assert head != plain_image.raw.read_bytes()[:512]
    assert [r["status"] for r in backend.state.results] == ["failure"]
    assert "configured" not in _phases(backend)


def test_read_back_failure_of_the_card_is_reported(board: dict[str, str], backend: BackendStub,
                                                   plain_image: OsImage, tmp_path: Path) -> None:
    """A card whose read fails mid-body (here: a dd that fails on the card's reads): failure with the reason."""
    shims = tmp_path / "shims"
    shims.mkdir()
    real = "/bin/dd" if Path("/bin/dd").exists() else "/usr/bin/dd"
    (shims / "dd").write_text(
        "#!/bin/bash\n"
        'for a in "$@"; do [[ $a == iflag=skip_bytes,count_bytes,fullblock,nocache ]] && '
        '{ echo "dd: error reading standard input: Input/output error" >&2; exit 1; }; done\n'
        f'exec {real} "$@"\n')
    (shims / "dd").chmod(0o755)
    with PacedCard(tmp_path / "fuse", size=CARD, rate=None) as card:
        _old(card)
        env = {**board, "PATH": f"{shims}:{os.environ['PATH']}"}
        rc, err = _install(env, backend, plain_image, card, bmap=False)
        head = _cells(card, 0, MiB)
    assert rc == 6, err[-3000:]
    assert "read-back failed: reading the card at byte 1048576 failed" in err, err[-3000:]
    assert head == bytes(MiB)
    assert [r["status"] for r in backend.state.results] == ["failure"]
