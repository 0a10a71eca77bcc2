"""Benchmark of the installer agent's write paths, all measured side by side in one run.

``python -m bench.install`` → ``bench/results/install.json`` and a one-line summary last.

A 1 GiB test "Ubuntu for Raspberry Pi" image with 25 % data (``harness.sim.media.osimage``: the rest are holes)
is served by ``python -m http.server`` on 127.0.0.1 (as the lab's files role does), raw and xz-compressed,
with its bmap. It is written to a 1 GiB "card" three ways — first to a card that writes like an SD card
(``bench.cardfs``: a FUSE file whose writes are paced at CARD_RATE, so the card is the bottleneck as on a Pi;
the targets apply here), then, for context, to a plain file in the page cache (CPU-bound on this machine):

* ``dd``: ``curl | [xz -dc |] dd of=card bs=4M conv=fsync``, the plain write of the same decompressed stream;
* ``verified``: ``malina-agent write`` (the agent's path: sha256 of the decompressed stream, head written
  last, flushed);
* ``bmap``: ``malina-agent write --bmap`` (the same verification, only the mapped ranges written).

Each case runs REPS times, interleaved, after a warm-up; the median wall time counts. Targets (issue 5):
verified <= 1.1x dd, bmap <= 0.5x dd. Everything lives in a temporary directory under /var/tmp, removed
at the end.
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

from testkit.pacedcard import PacedCard
from harness.sim.media.osimage import MiB, OsImage, build_image
from testkit.agent import AGENT
from testkit.ports import free_port

REPO = Path(__file__).resolve().parents[1]

RESULTS = REPO / "bench" / "results" / "install.json"
SIZE = 1024 * MiB
DATA_FRACTION = 0.25
REPS = 3
REPS_THROTTLED = 2
CARD_RATE = 50e6  # bytes/s: a good SD card's sustained write (class A1/U3 cards: 30-90 MB/s)
TARGET_VERIFIED = 1.1
TARGET_BMAP = 0.5


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
             warm: bool) -> dict[str, float]:
    """Median wall time of dd / verified / bmap writing ``img`` to ``card``, interleaved ``reps`` times."""
    url, comp = source
    dec = "| xz -dc " if comp == "xz" else ""
    assert img.bmap is not None
    run_env = {**env, "MALINA_DISK": str(card)}
    cmds = {
        "dd": ["bash", "-c", f"set -o pipefail; curl -fsS {url} {dec}| "
               f"dd of={card} bs=4M iflag=fullblock conv=notrunc,fsync status=none"],
        "verified": [str(AGENT), "write", "--url", url, "--sha256", img.sha256, "--size", str(img.size),
                     "--compression", comp],
        "bmap": [str(AGENT), "write", "--url", url, "--sha256", img.sha256, "--size", str(img.size),
                 "--compression", comp, "--bmap", str(img.bmap)],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    if warm:
        for cmd in cmds.values():  # page cache, server, binaries
            _timed(cmd, run_env)
    for _ in range(reps):
        for name, cmd in cmds.items():
            times[name].append(_timed(cmd, run_env))
    print("  " + ", ".join(f"{k} {[round(x, 2) for x in sorted(v)]}" for k, v in times.items()), flush=True)
    return {k: statistics.median(v) for k, v in times.items()}


def _check_head(card: Path, img: OsImage) -> None:
    with card.open("rb") as f, img.raw.open("rb") as want:
        if f.read(MiB) != want.read(MiB):
            raise RuntimeError(f"the card's head differs from the image after the runs ({card})")


def _record(cases: list[dict[str, Any]], label: str, med: dict[str, float], reps: int, *, targets: bool) -> str:
    v_ratio = med["verified"] / med["dd"]
    b_ratio = med["bmap"] / med["dd"]
    cases += [
        {"name": f"{label}: dd seconds (median of {reps})", "value": round(med["dd"], 3), "unit": "s"},
        {"name": f"{label}: verified seconds", "value": round(med["verified"], 3), "unit": "s"},
        {"name": f"{label}: bmap seconds", "value": round(med["bmap"], 3), "unit": "s"},
        {"name": f"{label}: verified / dd", "value": round(v_ratio, 3), "unit": "x",
         **({"target": f"<= {TARGET_VERIFIED}"} if targets else {})},
        {"name": f"{label}: bmap / dd", "value": round(b_ratio, 3), "unit": "x",
         **({"target": f"<= {TARGET_BMAP}"} if targets else {})},
    ]
    v_ok = "ok" if v_ratio <= TARGET_VERIFIED else "MISS"
    b_ok = "ok" if b_ratio <= TARGET_BMAP else "MISS"
    return f"{label}: verified/dd {v_ratio:.2f}x ({v_ok}), bmap/dd {b_ratio:.2f}x ({b_ok}), dd {med['dd']:.1f} s"


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
        with PacedCard(work, size=SIZE, rate=CARD_RATE) as card:
            label = f"throttled card {CARD_RATE / 1e6:.0f} MB/s, xz"
            print(f"{label}: writing through a FUSE card paced at {CARD_RATE / 1e6:.0f} MB/s ...", flush=True)
            med = _measure(img, card.path, sources["xz"], env, reps=REPS_THROTTLED, warm=False)
            _check_head(card.path, img)
            summary.append(_record(cases, label, med, REPS_THROTTLED, targets=True))
        # 2. context: the same paths on a page-cache file (CPU-bound on this machine, no targets)
        plain = work / "card.img"
        subprocess.run(["dd", "if=/dev/zero", f"of={plain}", "bs=4M", f"count={SIZE // (4 * MiB)}",
                        "conv=fsync", "status=none"], check=True)
        for src in ("xz", "raw"):
            label = f"page-cache file, {src}"
            med = _measure(img, plain, sources[src], env, reps=REPS, warm=True)
            _check_head(plain, img)
            _record(cases, label, med, REPS, targets=False)
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
