"""Benchmark of the backend's hot path, ``GET /v1/dhcp/options``, on SQLite and on PostgreSQL.

For each database: a fresh database with 300 machines (half in install, 40 % local, the rest asked on unknown
ports), ``malina backend serve`` as its own process on 127.0.0.1, and from this process:

1. an open-loop load of 500 requests/s for 30 s over keep-alive connections (as the hook's pooled libcurl
   handles); latency is measured from each request's *scheduled* time, so a stalled server cannot hide
   queueing (no coordinated omission) → p50, p99, the rate achieved, errors;
2. the maximum sustained rate: closed-loop, 16 connections back to back for 10 s.

The load includes the writes a real storm brings: the first ask of each install machine issues its token and
the local machines, asking over and over, trip the loop guard and get flagged. PostgreSQL runs with fsync on
and ``synchronous_commit=off``, which is as durable as SQLite's WAL with ``synchronous=NORMAL``.

Scale (issue 18.5): the same p99 at 500/s on SQLite with 10 and with 10,000 machines defined, in a steady lab
(``measure_scale``: tokens issued beforehand, no loop-guard trips, the two backends taking turns): cases
``sqlite_p99_ms_at_500_with_10_machines``, ``sqlite_p99_ms_at_500_with_10000_machines`` and their ratio
``10000 machines / 10 machines p99`` (target <= 1.2).

Writes `bench/results/backend.json` (``--only`` replaces its own cases and keeps the others) and prints a
one-line summary last. Targets: p99 < 10 ms at 500/s on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.backend [--seconds 30] [--rate 500] [--max-seconds 10] [--only sqlite|postgresql|scale]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import random
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from backend import migrate
from backend.config import Settings
from backend.db import Database
from backend.pgcluster import PgCluster
from backend.schemas import MachineIn
from backend.service import Service
from testkit.backend_process import HOOK_SECRET, backend_process

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "backend.json"
MACHINES = 300
CONNECTIONS_OPEN = 8
CONNECTIONS_MAX = 16
SHA = "ab" * 32
WRITE = "bench-write-token-0123456789abcdef01"


def _port_hex(i: int) -> tuple[str, str]:
    return f"Gi{i // 48 + 1}/0/{i % 48 + 1}".encode().hex(), b"tor-bench".hex()


def _mac(i: int) -> str:
    return f"dc:a6:32:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"


def seed(url: str, machines: int = MACHINES) -> None:
    """``machines`` ports: the first half in install, the next 40 % in local, the last 10 % stay unknown (300:
    150 install, 120 local on ports 0..269, ports 270..299 unknown)."""
    db = Database(url)
    migrate.upgrade(db.engine)
    svc = Service(db, Settings(db_url=url, tftp_server="10.89.0.4"))
    installs, defined = machines // 2, machines * 9 // 10
    specs = []
    for i in range(defined):
        s1, s2 = _port_hex(i)
        specs.append(
            MachineIn.model_validate(
                {
                    "name": f"b{i:04d}",
                    "sub82_1": s1,
                    "sub82_2": s2,
                    "mac": _mac(i),
                    "serial": f"{0x10000000 + i:08x}",
                    "boot_mode": "install" if i < installs else "local",
                    "install": {
                        "hostname": f"b{i:04d}",
                        "image": {"url": "http://10.89.0.5:8081/u.img.xz", "sha256": SHA, "size": 1 << 30},
                        "network": {"address": f"10.{100 + i // 250 % 150}.{i % 250}.50/16"},
                    },
                }
            )
        )
    for start in range(0, len(specs), 1000):  # one transaction per thousand: seeding is not measured
        svc.import_machines(specs[start:start + 1000])
    db.dispose()


def request_paths(n: int, seed_: int = 7, machines: int = MACHINES) -> list[bytes]:
    """The hook's query strings (identity parameters included), in a fixed random order."""
    rnd = random.Random(seed_)
    return [_path(rnd.randrange(machines)) for _ in range(n)]


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def get(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@dataclass
class Run:
    latencies_ms: list[float]
    errors: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return (len(self.latencies_ms) + self.errors) / self.elapsed_s

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies_ms)
        if not xs:
            return float("nan")
        return xs[min(len(xs) - 1, round(p / 100.0 * (len(xs) - 1)))]


async def open_loop(port: int, rate: float, seconds: float, machines: int = MACHINES, seed_: int = 7) -> Run:
    total = int(rate * seconds)
    paths = request_paths(total, seed_, machines)
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    lat: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        conn = await Conn.open(port)
        try:
            while (item := await queue.get()) is not None:
                due, raw = item
                try:
                    status = await conn.get(raw)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    await conn.close()
                    conn = await Conn.open(port)
                    continue
                done = time.perf_counter()
                if status == 200:
                    lat.append((done - due) * 1000.0)
                else:
                    errors += 1
        finally:
            await conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(CONNECTIONS_OPEN)]
    await asyncio.sleep(0.2)  # connections up
    start = time.perf_counter()
    interval = 1.0 / rate
    for i, raw in enumerate(paths):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        queue.put_nowait((due, raw))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return Run(lat, errors, time.perf_counter() - start)


async def closed_loop(port: int, seconds: float) -> Run:
    paths = request_paths(50_000, seed_=11)
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal errors
        conn = await Conn.open(port)
        i = k
        try:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    status = await conn.get(paths[i % len(paths)])
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    await conn.close()
                    conn = await Conn.open(port)
                    continue
                if status == 200:
                    lat.append((time.perf_counter() - t0) * 1000.0)
                else:
                    errors += 1
                i += CONNECTIONS_MAX
        finally:
            await conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(CONNECTIONS_MAX)))
    return Run(lat, errors, time.perf_counter() - start)


def measure(
    name: str, url: str, workdir: Path, rate: float, seconds: float, max_seconds: float
) -> list[dict[str, Any]]:
    seed(url)
    with backend_process(url, workdir / f"serve-{name}.log", write_token=WRITE, log_level="warning") as running:
        port = running.port
        asyncio.run(open_loop(port, 200, 1.0))  # warm-up: connections and caches warm
        gc.collect()
        gc.disable()  # the load generator's own collector must not stall the measurement
        try:
            fixed = asyncio.run(open_loop(port, rate, seconds))
            top = asyncio.run(closed_loop(port, max_seconds))
        finally:
            gc.enable()
    r = int(rate)
    print(
        f"{name}: {r}/s for {seconds:g}s: p50 {fixed.pct(50):.2f} ms, p99 {fixed.pct(99):.2f} ms, "
        f"achieved {fixed.rate:.0f}/s, errors {fixed.errors}; max sustained {top.rate:.0f}/s "
        f"(p99 {top.pct(99):.1f} ms, errors {top.errors})",
        flush=True,
    )
    return [
        {"name": f"{name}_p50_ms_at_{r}", "value": round(fixed.pct(50), 3), "unit": "ms", "target": None},
        {
            "name": f"{name}_p99_ms_at_{r}",
            "value": round(fixed.pct(99), 3),
            "unit": "ms",
            "target": "< 10",
        },
        {
            "name": f"{name}_achieved_rate_at_{r}",
            "value": round(fixed.rate, 1),
            "unit": "req/s",
            "target": f">= {0.95 * rate:g}",
        },
        {"name": f"{name}_errors_at_{r}", "value": fixed.errors, "unit": "requests", "target": "== 0"},
        {"name": f"{name}_max_sustained_rate", "value": round(top.rate, 1), "unit": "req/s", "target": None},
        {"name": f"{name}_max_rate_errors", "value": top.errors, "unit": "requests", "target": "== 0"},
    ]


def _path(i: int) -> bytes:
    """The hook's request for machine ``i``, with the hook's credential (without it: 401)."""
    s1, s2 = _port_hex(i)
    q = {"sub82_1": s1, "sub82_2": s2, "mac": _mac(i).replace(":", "")}
    return (f"GET /v1/dhcp/options?{urlencode(q)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {HOOK_SECRET}\r\n\r\n").encode()


async def ask_each(port: int, indices: list[int]) -> int:
    """Ask once for each machine index (16 connections): the tokens of a steady lab issued. Returns errors."""
    queue = list(indices)
    errors = 0

    async def worker() -> None:
        nonlocal errors
        conn = await Conn.open(port)
        try:
            while queue:
                if await conn.get(_path(queue.pop())) != 200:
                    errors += 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS_MAX)))
    return errors


SCALES = (10, 10_000)
SCALE_ROUNDS = 3


def measure_scale(workdir: Path, rate: float, seconds: float) -> list[dict[str, Any]]:
    """The hot path's p99 with 10 and with 10,000 machines defined (SQLite), in a steady lab: every install
    machine already holds its token (asked once before) and the loop guard does not trip (its count set out of
    reach), so that both runs answer from the one read and differ only in the tables' size. The two backends
    run side by side and take turns (``SCALE_ROUNDS`` windows of ``seconds / SCALE_ROUNDS`` each), so that a
    change in this machine's load hits both alike; the case is the median of the windows' p99."""
    p99s: dict[int, list[float]] = {n: [] for n in SCALES}
    errors = dict.fromkeys(SCALES, 0)
    with contextlib.ExitStack() as stack:
        ports = {}
        for n in SCALES:
            url = f"sqlite:///{workdir / f'scale-{n}.db'}"
            t0 = time.perf_counter()
            seed(url, n)
            print(f"sqlite, {n} machines: seeded in {time.perf_counter() - t0:.1f} s", flush=True)
            running = stack.enter_context(backend_process(url, workdir / f"serve-scale-{n}.log", write_token=WRITE,
                                                          log_level="warning",
                                                          env={"MALINA_LOOP_GUARD_COUNT": "100000"}))
            ports[n] = running.port
            errors[n] += asyncio.run(ask_each(running.port, list(range(n // 2))))
            asyncio.run(open_loop(running.port, 200, 1.0, n))  # warm-up: connections and caches
        gc.collect()
        gc.disable()
        try:
            for k in range(SCALE_ROUNDS):
                for n in SCALES:
                    run = asyncio.run(open_loop(ports[n], rate, seconds / SCALE_ROUNDS, n, seed_=100 + k))
                    p99s[n].append(run.pct(99))
                    errors[n] += run.errors
        finally:
            gc.enable()
    r = int(rate)
    small, large = (statistics.median(p99s[n]) for n in SCALES)
    print(f"sqlite scale: p99 at {r}/s with 10 machines {small:.2f} ms {p99s[10]}, with 10000 machines "
          f"{large:.2f} ms {p99s[10_000]}; errors {errors}", flush=True)
    return [
        {"name": f"sqlite_p99_ms_at_{r}_with_10_machines", "value": round(small, 3), "unit": "ms", "target": None,
         "windows": [round(x, 3) for x in p99s[10]], "errors": errors[10]},
        {"name": f"sqlite_p99_ms_at_{r}_with_10000_machines", "value": round(large, 3), "unit": "ms",
         "target": "< 10", "windows": [round(x, 3) for x in p99s[10_000]], "errors": errors[10_000]},
        {"name": "10000 machines / 10 machines p99", "value": round(large / small, 3), "unit": "ratio",
         "target": "<= 1.2"},
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--max-seconds", type=float, default=10.0)
    ap.add_argument("--only", choices=["sqlite", "postgresql", "scale"])
    args = ap.parse_args(argv)
    cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="malina-bench-backend-") as tmp:
        work = Path(tmp)
        if args.only in (None, "sqlite"):
            cases += measure(
                "sqlite", f"sqlite:///{work / 'bench.db'}", work, args.rate, args.seconds, args.max_seconds
            )
        if args.only in (None, "scale"):
            cases += measure_scale(work, args.rate, args.seconds)
        if args.only in (None, "postgresql"):
            # fsync on; commits as durable as SQLite's WAL with synchronous=NORMAL (no fsync per commit)
            with PgCluster(durable=True, settings={"synchronous_commit": "off"}) as pg:
                cases += measure("postgresql", pg.url, work, args.rate, args.seconds, args.max_seconds)
    if args.only and RESULTS.exists():  # a partial run replaces its own cases and keeps the others
        names = {c["name"] for c in cases}
        cases = [c for c in json.loads(RESULTS.read_text())["cases"] if c["name"] not in names] + cases
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "backend", "cases": cases}, indent=2) + "\n")
    by = {c["name"]: c["value"] for c in cases}
    parts = []
    r = int(args.rate)
    for db in ("sqlite", "postgresql"):
        if f"{db}_p99_ms_at_{r}" in by:
            parts.append(
                f"{db} p50 {by[f'{db}_p50_ms_at_{r}']:.2f} ms p99 {by[f'{db}_p99_ms_at_{r}']:.2f} ms "
                f"@{r}/s, max {by[f'{db}_max_sustained_rate']:.0f}/s"
            )
    if "10000 machines / 10 machines p99" in by:
        parts.append(f"sqlite 10000/10 machines p99 {by['10000 machines / 10 machines p99']:.2f}x (target <= 1.2)")
    verdict = ""
    for db in ("sqlite", "postgresql"):
        if f"{db}_p99_ms_at_{r}" in by:
            ok = by[f"{db}_p99_ms_at_{r}"] < 10 and by[f"{db}_errors_at_{r}"] == 0
            verdict += f" — {db} p99 < 10 ms: {'PASS' if ok else 'FAIL'}"
    print("backend: " + "; ".join(parts) + verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
