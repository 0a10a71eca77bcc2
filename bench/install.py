"""Benchmark of the installer agent's write paths, all measured side by side in one run.

``python -m bench.install`` → ``bench/results/install.json`` and a one-line summary last.

A 1 GiB test "Ubuntu for Raspberry Pi" image with 25 % data (``harness.sim.osimage``: the rest are holes)
is served by ``python -m http.server`` on 127.0.0.1 (as the lab's files role does), raw and xz-compressed,
with its bmap. It is written to a 1 GiB card file in /var/tmp three ways:

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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.sim.osimage import MiB, OsImage, build_image  # noqa: E402

RESULTS = REPO / "bench" / "results" / "install.json"
AGENT = REPO / "buildroot" / "board" / "malina" / "rootfs-overlay" / "usr" / "sbin" / "malina-agent"
SIZE = 1024 * MiB
DATA_FRACTION = 0.25
REPS = 3
TARGET_VERIFIED = 1.1
TARGET_BMAP = 0.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        port = _free_port()
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
        card = work / "card.img"
        subprocess.run(["dd", "if=/dev/zero", f"of={card}", "bs=4M", f"count={SIZE // (4 * MiB)}",
                        "conv=fsync", "status=none"], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALINA_")}
        env.update({"MALINA_CONF": "/dev/null", "MALINA_CMDLINE_FILE": "/dev/null",
                    "MALINA_RUN_DIR": str(work / "run"), "MALINA_PROGRESS_INTERVAL": "0",
                    "MALINA_DISK": str(card)})
        sources = {"xz": (f"{base}/{img.path.name}", "xz"), "raw": (f"{base}/{img.raw.name}", "none")}
        assert img.bmap is not None
        cases: list[dict[str, Any]] = []
        summary = []
        for label, (url, comp) in sources.items():
            dec = "| xz -dc " if comp == "xz" else ""
            cmds = {
                "dd": ["bash", "-c", f"set -o pipefail; curl -fsS {url} {dec}| "
                       f"dd of={card} bs=4M iflag=fullblock conv=notrunc,fsync status=none"],
                "verified": [str(AGENT), "write", "--url", url, "--sha256", img.sha256, "--size",
                             str(img.size), "--compression", comp],
                "bmap": [str(AGENT), "write", "--url", url, "--sha256", img.sha256, "--size",
                         str(img.size), "--compression", comp, "--bmap", str(img.bmap)],
            }
            times: dict[str, list[float]] = {k: [] for k in cmds}
            for cmd in cmds.values():  # warm-up: page cache, server, binaries
                _timed(cmd, env)
            for _ in range(REPS):
                for name, cmd in cmds.items():
                    times[name].append(_timed(cmd, env))
            med = {k: statistics.median(v) for k, v in times.items()}
            with card.open("rb") as f:
                if f.read(MiB) != img.raw.open("rb").read(MiB):
                    raise RuntimeError("the card's head differs from the image after the runs")
            v_ratio = med["verified"] / med["dd"]
            b_ratio = med["bmap"] / med["dd"]
            cases += [
                {"name": f"{label}: dd seconds (median of {REPS})", "value": round(med["dd"], 3), "unit": "s",
                 "target": None},
                {"name": f"{label}: verified seconds", "value": round(med["verified"], 3), "unit": "s",
                 "target": None},
                {"name": f"{label}: bmap seconds", "value": round(med["bmap"], 3), "unit": "s",
                 "target": None},
                {"name": f"{label}: verified / dd", "value": round(v_ratio, 3), "unit": "x",
                 "target": f"<= {TARGET_VERIFIED}"},
                {"name": f"{label}: bmap / dd", "value": round(b_ratio, 3), "unit": "x",
                 "target": f"<= {TARGET_BMAP}"},
            ]
            v_ok = "ok" if v_ratio <= TARGET_VERIFIED else "MISS"
            b_ok = "ok" if b_ratio <= TARGET_BMAP else "MISS"
            summary.append(f"{label}: verified/dd {v_ratio:.2f}x ({v_ok}), bmap/dd {b_ratio:.2f}x ({b_ok}), "
                           f"dd {med['dd']:.2f} s")
            print(f"{label}: " + ", ".join(f"{k} {sorted(v)}" for k, v in times.items()), flush=True)
        cases.append({"name": "image mapped fraction", "value": round(fraction, 3), "unit": "ratio",
                      "target": None})
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
