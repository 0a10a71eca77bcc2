"""The paced card (testkit/pacedcard.py, FUSE; the install benchmark's card and the read-back tests' lying card):
writes are paced at the configured rate whatever the writer does, fsync returns only when the data is "on the
card", reads are unpaced or paced at their own rate, the card keeps its data and size, its lies show only once
the page cache is dropped, and nothing stays mounted or running afterwards."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from testkit.pacedcard import Lie, PacedCard

MiB = 1 << 20


def test_writes_are_paced_and_cleanup_is_complete(tmp_path: Path) -> None:
    rate = 20e6
    payload = os.urandom(4 * MiB)
    with PacedCard(tmp_path, size=64 * MiB, rate=rate) as card:
        assert card.mounted() and card.path.stat().st_size == 64 * MiB
        t0 = time.perf_counter()
        with card.path.open("r+b") as f:
            for i in range(4):
                f.seek(8 * MiB * i)
                f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        took = time.perf_counter() - t0
        measured = 16 * MiB / took
        assert 0.6 * rate < measured < 1.1 * rate, f"{measured / 1e6:.1f} MB/s for a {rate / 1e6:.0f} MB/s card"
        t0 = time.perf_counter()
        with card.path.open("rb") as f:
            f.seek(16 * MiB)
            assert f.read(4 * MiB) == payload
            assert f.read(MiB) == bytes(MiB)  # never written: zeros
        assert time.perf_counter() - t0 < 0.5 * (5 * MiB / rate) + 0.5
        r = subprocess.run(["dd", "if=/dev/zero", f"of={card.path}", "bs=1M", "seek=64", "count=1",
                            "conv=notrunc", "status=none"], capture_output=True, text=True, check=False)
        assert r.returncode != 0, "writing past the end of the card must fail"
        proc = card.proc
        assert proc is not None
    assert not card.mounted() and not proc.is_alive()
    assert not (tmp_path / "card.backing").exists()
    assert str(tmp_path) not in Path("/proc/mounts").read_text()


def _drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def test_reads_are_paced_at_the_read_rate(tmp_path: Path) -> None:
    with PacedCard(tmp_path, size=32 * MiB, rate=None, read_rate=40e6) as card:
        t0 = time.perf_counter()
        with card.path.open("rb") as f:
            assert f.read() == bytes(32 * MiB)
        measured = 32 * MiB / (time.perf_counter() - t0)
        assert 0.6 * 40e6 < measured < 1.1 * 40e6, f"{measured / 1e6:.1f} MB/s for a 40 MB/s read rate"


@pytest.mark.parametrize(("lie", "expect"), [
    (Lie(drop_after=3 * MiB), lambda d: d[:3 * MiB] + bytes(5 * MiB)),
    (Lie(drop_range=(2 * MiB, 2 * MiB + 4096)), lambda d: d[:2 * MiB] + bytes(4096) + d[2 * MiB + 4096:]),
    (Lie(real_size=6 * MiB), lambda d: d[6 * MiB:] + d[2 * MiB:6 * MiB] + d[6 * MiB:]),
    (Lie(flip_at=5 * MiB + 7), lambda d: d[:5 * MiB + 7] + bytes([d[5 * MiB + 7] ^ 1]) + d[5 * MiB + 8:]),
], ids=["drop-after", "drop-range", "wrap", "flip"])
def test_lies_hide_in_the_page_cache_until_it_is_dropped(
        tmp_path: Path, lie: Lie, expect: Callable[[bytes], bytes]) -> None:
    """What was written stays in the kernel's cache (kernel_cache, as for a block device): a reader who does
    not drop it sees the data as written; after posix_fadvise(DONTNEED) the card answers, with its lie."""
    data = os.urandom(8 * MiB)
    with PacedCard(tmp_path, size=8 * MiB, rate=None, lie=lie) as card:
        with card.path.open("r+b") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        assert card.path.read_bytes() == data, "the written data should still be cached"
        _drop_cache(card.path)
        got = card.path.read_bytes()
        assert got != data and got == expect(data)
