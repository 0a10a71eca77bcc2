"""The paced card (testkit/pacedcard.py, FUSE; the install benchmark's card): writes are paced at the configured rate
whatever the writer does, fsync returns only when the data is "on the card", reads are not throttled, the card
keeps its data and size, and nothing stays mounted or running afterwards."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from testkit.pacedcard import PacedCard

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
