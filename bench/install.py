"""Benchmark of the installer agent's write paths, all measured side by side in one run.

``python -m bench.install`` → ``bench/results/install.json`` and a one-line summary last.

A 1 GiB test "Ubuntu for Raspberry Pi" image with 25 % data (``harness.sim.media.osimage``: the rest are holes)
is served by ``python -m http.server`` on 127.0.0.1 (as the lab's files role does), raw and xz-compressed,
with its bmap. It is written to a 1 GiB "card" several ways — first to a card that writes and reads like an SD
card (``testkit.pacedcard``: a FUSE file whose writes are paced at CARD_RATE and reads at CARD_READ_RATE, twice
that, as a Pi 4's DDR50 card reads about twice as fast as it writes; the card is the bottleneck as on a Pi and
the targets apply here),
then, for context, to a plain file in the page cache (CPU-bound on this machine):

* ``dd``: ``curl | [xz -dc |] dd of=card bs=4M conv=fsync``, the plain write of the same decompressed stream;
* ``verified``: ``malina-agent write --no-readback`` (the agent's write: sha256 of the decompressed stream,
  head written last, flushed);
* ``bmap``: ``malina-agent write --no-readback --bmap`` (the same verification, only the mapped ranges written);
* ``readback verified`` / ``readback bmap`` (paced card only): ``malina-agent write`` with and without
  ``--bmap``, as the install runs it: the write, then the card's cache dropped and the card read back and
  hashed (the whole body, or the mapped ranges), then the head.

Each case runs REPS times, interleaved, after a warm-up (page-cache file only); the median wall time counts.
Targets: verified <= 1.1x dd, bmap <= 0.5x dd (issue 5); readback verified <= 1.6x dd (a write plus a read at
twice the speed is 1.5x at best), readback bmap <= 0.65x dd (issue 13). Everything lives in a temporary
directory under /var/tmp, removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.sim.media.osimage import MiB, OsImage, build_image
from testkit.agent import AGENT
from testkit.pacedcard import PacedCard
from testkit.ports import free_port

REPO = Path(__file__).resolve().parents[1]

RESULTS = REPO / "bench" / "results" / "install.json"
SIZE = 1024 * MiB
DATA_FRACTION = 0.25
REPS = 3
REPS_THROTTLED = 2
CARD_RATE = 50e6  # bytes/s: a good SD card's sustained write (class A1/U3 cards: 30-90 MB/s)
CARD_READ_RATE = 2 * CARD_RATE  # a Pi 4's DDR50 card reads about twice as fast as it writes
TARGET_VERIFIED = 1.1
TARGET_BMAP = 0.5
TARGET_READBACK = 1.6
TARGET_READBACK_BMAP = 0.65


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return dt


def _mapped_fraction(img: OsImage) -> float:
    assert img.bmap is not None
    text = img.bmap.read_text()
    mapped = int(text.split("<MappedBlocksCount>")[1].split("<")[0])
    return mapped * 4096 / img.size


def _measure(img: OsImage, card: Path, source: tuple[str, str], env: dict[str, str], *, reps: int,
             warm: bool, readback: bool) -> dict[str, list[float]]:
    """Wall times of dd / verified / bmap (and with ``readback`` the two read-back paths) writing ``img`` to
    ``card``, interleaved ``reps`` times."""
    url, comp = source
    dec = "| xz -dc " if comp == "xz" else ""
    assert img.bmap is not None
    run_env = {**env, "MALINA_DISK": str(card)}
    write = [str(AGENT), "write", "--url", url, "--sha256", img.sha256, "--size", str(img.size),
             "--compression", comp]
    cmds = {
        "dd": ["bash", "-c", f"set -o pipefail; curl -fsS {url} {dec}| "
               f"dd of={card} bs=4M iflag=fullblock conv=notrunc,fsync status=none"],
        "verified": [*write, "--no-readback"],
        "bmap": [*write, "--no-readback", "--bmap", str(img.bmap)],
    }
    if readback:
        cmds |= {"readback verified": write, "readback bmap": [*write, "--bmap", str(img.bmap)]}
    times: dict[str, list[float]] = {k: [] for k in cmds}
    if warm:
        for cmd in cmds.values():  # page cache, server, binaries
            _timed(cmd, run_env)
    for _ in range(reps):
        for name, cmd in cmds.items():
            times[name].append(_timed(cmd, run_env))
    print("  " + ", ".join(f"{k} {[round(x, 2) for x in sorted(v)]}" for k, v in times.items()), flush=True)
    return times


def _check_head(card: Path, img: OsImage) -> None:
    with card.open("rb") as f, img.raw.open("rb") as want:
        if f.read(MiB) != want.read(MiB):
            raise RuntimeError(f"the card's head differs from the image after the runs ({card})")


def _record(cases: list[dict[str, Any]], label: str, times: dict[str, list[float]], reps: int, *,
            targets: bool) -> str:
    med = {k: statistics.median(v) for k, v in times.items()}
    v_ratio = med["verified"] / med["dd"]
    b_ratio = med["bmap"] / med["dd"]
    cases += [
        {"name": f"{label}: dd seconds (median of {reps})", "value": round(med["dd"], 3), "unit": "s"},
        {"name": f"{label}: dd seconds min", "value": round(min(times["dd"]), 3), "unit": "s"},
        {"name": f"{label}: dd seconds max", "value": round(max(times["dd"]), 3), "unit": "s"},
        {"name": f"{label}: verified seconds", "value": round(med["verified"], 3), "unit": "s"},
        {"name": f"{label}: bmap seconds", "value": round(med["bmap"], 3), "unit": "s"},
        {"name": f"{label}: verified / dd", "value": round(v_ratio, 3), "unit": "x",
         **({"target": f"<= {TARGET_VERIFIED}"} if targets else {})},
        {"name": f"{label}: bmap / dd", "value": round(b_ratio, 3), "unit": "x",
         **({"target": f"<= {TARGET_BMAP}"} if targets else {})},
    ]
    v_ok = "ok" if v_ratio <= TARGET_VERIFIED else "MISS"
    b_ok = "ok" if b_ratio <= TARGET_BMAP else "MISS"
    line = f"{label}: verified/dd {v_ratio:.2f}x ({v_ok}), bmap/dd {b_ratio:.2f}x ({b_ok})"
    for key, target in (("readback verified", TARGET_READBACK), ("readback bmap", TARGET_READBACK_BMAP)):
        if key not in med:
            continue
        ratio = med[key] / med["dd"]
        cases += [
            {"name": f"{label}: {key} seconds", "value": round(med[key], 3), "unit": "s"},
            {"name": f"{label}: {key} / dd", "value": round(ratio, 3), "unit": "x",
             **({"target": f"<= {target}"} if targets else {})},
        ]
        line += f", {key}/dd {ratio:.2f}x ({'ok' if ratio <= target else 'MISS'})"
    return line + f", dd {med['dd']:.1f} s (min {min(times['dd']):.1f}, max {max(times['dd']):.1f})"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="malina-bench-install-", dir="/var/tmp"))
    server: subprocess.Popen[bytes] | None = None
    try:
        print(f"building a {SIZE // MiB} MiB image with {DATA_FRACTION:.0%} data in {work} ...", flush=True)
        t0 = time.perf_counter()
        img = build_image(work, name="bench", size=SIZE, boot_size=64 * MiB, compress=True, bmap=True,
                          data_bytes=int(SIZE * DATA_FRACTION) - 12 * MiB)
        fraction = _mapped_fraction(img)
        print(f"image built in {time.perf_counter() - t0:.0f} s, mapped {fraction:.1%}", flush=True)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                   "--directory", str(work)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALINA_")}
        env.update({"MALINA_CONF": "/dev/null", "MALINA_CMDLINE_FILE": "/dev/null",
                    "MALINA_RUN_DIR": str(work / "run"), "MALINA_PROGRESS_INTERVAL": "0"})
        sources = {"xz": (f"{base}/{img.path.name}", "xz"), "raw": (f"{base}/{img.raw.name}", "none")}
        cases: list[dict[str, Any]] = []
        summary = []
        # 1. the card throttled like an SD card (the measurement the targets are about)
        with PacedCard(work, size=SIZE, rate=CARD_RATE, read_rate=CARD_READ_RATE) as card:
            label = f"throttled card {CARD_RATE / 1e6:.0f} MB/s, xz"
            print(f"{label}: through a FUSE card paced at {CARD_RATE / 1e6:.0f} MB/s write, "
                  f"{CARD_READ_RATE / 1e6:.0f} MB/s read ...", flush=True)
            times = _measure(img, card.path, sources["xz"], env, reps=REPS_THROTTLED, warm=False, readback=True)
            _check_head(card.path, img)
            summary.append(_record(cases, label, times, REPS_THROTTLED, targets=True))
        # 2. context: the same paths on a page-cache file (CPU-bound on this machine, no targets)
        plain = work / "card.img"
        subprocess.run(["dd", "if=/dev/zero", f"of={plain}", "bs=4M", f"count={SIZE // (4 * MiB)}",
                        "conv=fsync", "status=none"], check=True)
        for src in ("xz", "raw"):
            label = f"page-cache file, {src}"
            times = _measure(img, plain, sources[src], env, reps=REPS, warm=True, readback=False)
            _check_head(plain, img)
            _record(cases, label, times, REPS, targets=False)
        cases.append({"name": "image mapped fraction", "value": round(fraction, 3), "unit": "ratio"})
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"benchmark": "install", "cases": cases}, indent=2) + "\n")
        print(f"install ({SIZE // MiB} MiB, {fraction:.0%} mapped): " + "; ".join(summary))
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
