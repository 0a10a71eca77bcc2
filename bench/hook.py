"""Benchmark of the remote-options hook: perfdhcp against one multi-threaded Kea container, all cases at once,
on every Kea release (issue 14.3).

``python -m bench.hook`` → ``bench/results/hook.json`` and a one-line summary per release last. Every case runs
against each release in ``harness.lab.keaversions.KEA_VERSIONS`` (one lab per release, in turn); its name starts
with ``kea<version>:`` and its ratios are to the same release's Kea without the hook. ``--versions``,
``--duration``, ``--reps`` and ``--out`` shorten a run (a smoke run: ``--versions 2.6 --duration 1 --reps 1``).

Capacity (the throughput cases): ``bench/dhcpload`` (C, built in the load generators' containers), a closed-loop
relay: ``LOAD_CLIENTS`` simulated clients each start their next exchange (a new chaddr, a new circuit-id) when the
last one ends, so Kea is measured at its capacity and never flooded past its queues. The open-loop perfdhcp it
replaces for these cases was itself the ceiling on this 2-core machine (its core 0.93-0.95 busy at Kea alone's
~8,000 DORA/s, Kea's 0.76-0.79), and a rate search around a flooded server read ratios with a spread of 0.25;
dhcpload completes the same ~8,000 DORA/s with its core ~0.3 busy and Kea's 0.99, in one run per case.
perfdhcp still drives the fixed-rate cases (100 ms backend, warm-up, isolation).

Placement (``bench.hookpin``): Kea and the backend stand-ins on core 0, the load generators on core 1, so the
baseline is Kea's limit and not the load generator's; ``baseline_server_core_busy`` / ``baseline_loadgen_core_busy``
(each core's busy share during the baseline measurement, from /proc/stat: the kernel's packet work counts too) are
the evidence: Kea's core near 1.0 while the generator's stays well below it. ``baseline_kea_cpu`` /
``baseline_loadgen_cpu`` are the containers' own CPU (cores; without the softirq work no cgroup carries).

Nothing else may take CPU while Kea is measured: Kea logs at WARN (``LOG_SEVERITY``; at INFO it writes lines for
every lease to stdout, and docker's log path spent 0.65 of a core on them, outside any cpuset, which held Kea
2.6 and 3.0 near 800 DORA/s), and perfdhcp writes its report to a file in its container, read after the run.

Lab: ``testkit.hooklab`` (Kea + hook, stand-in backend) plus, from an image of Debian's kea-admin
and nginx-light built here, an nginx static backend (keep-alive) and two perfdhcp containers on the server
network. The generators relay (giaddr = their own address, a subnet of their own in Kea's config); each case is
a fresh ``config-set`` (empty leases, fresh hook). In the capacity cases every exchange has its own chaddr and its
own option 82 (circuit-id ``c<n>``, dhcpload ``--vary82``): each is a distinct port to the hook's cache and to the
backend, so each costs one backend call and the cache saves only its REQUEST (checked: calls / exchanges ~= 1).
perfdhcp (the fixed-rate cases) can vary only the chaddr: a template has one randomised region, which perfdhcp
fills with the client's MAC. ``bench/o82gen.py`` (case 2b, ``varied82_*``) is the fixed-rate Python twin.

Socket buffers (``bench.netbuf``): the run raises the host's default UDP receive buffer (``rcvbuf_default_bytes``,
put back at the end; Kea sets none on its socket) before any lab starts, for Kea alone and every case alike. Behind
the 100 ms backend the parked calls complete in bursts, the REQUESTs come back in bursts, and with the stock
212,992 bytes the kernel dropped some 3 % of them before Kea read them (Kea's netns ``RcvbufErrors``; Kea's own
drop counters stay 0): each a closed-loop client lost for its 2 s timeout, a third of the case's client time.
Every capacity run reports those drops (``<case>_server_socket_drops``).

Kea 2.6+ (the parked path, no packet thread waits for the backend) adds two targets: ``slow100_capacity``, a
backend answering in 100 ms at the case's capacity with ``SLOW_CLIENTS`` outstanding (>= 0.3x Kea alone measured
beside it, median of the pairs as for the other capacity cases; every
ACK with the backend's option 224; ``max-concurrent-requests`` raised to ``PARKED_CONCURRENCY`` under a
``parked-packet-limit`` of ``PARKED_PACKET_LIMIT``: 512 clients keep up to 512 DISCOVERs parked, over Kea's
default of 256), and the isolation case's non-matching clients at p99 < 5 ms and >= 0.95x. Kea 2.2 keeps its
targets.
On 2.6+ the fast-backend cases (nginx, malina) run with ``max-concurrent-requests`` at ``FAST_PARKED_CONCURRENCY``
(case ``nginx_max_concurrent_requests``): a parked call holds no thread, so the cap 2.2 needs (under the thread pool)
would only measure the cap (see ``Bench.fast_backend_params``).

Cases (ratios to Kea without the hook under the same load, measured back to back):
0. ``baseline``: Kea without the hook;  1. hook loaded, no client matching (>= 0.95x);  1b. ``hook_points_floor``:
the floor library (hook/floor/floor.cc: callouts at the hook's hook points that return at once) in the same rounds,
Kea's own price of those hook points (on 2.6+ also the parking points alone, ``hook_points_floor_parking``, and
pkt4_send alone, ``hook_points_floor_pkt4_send``), and ``no_match_vs_floor_ratio``, what the hook's callouts add;
2. static fast nginx backend (>= 0.5x);  3. the malina backend (when it exists);
4. backend answering in 100 ms at a fixed rate (>= 50 DORA/s, every reply with the backend's options);
5. backend stopped / backend hung (>= 0.8x; OFFER/ACK p99 <= request-timeout-ms, the failure policy on
both replies of every exchange, no backend answer);  6. isolation: non-matching clients at a fixed rate
while matching clients hit a hung backend (p99 < 10 ms, rate >= 0.9x of the same load without the hook),
with the default breaker and again with the breaker out of the way (the concurrency bound alone).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import hookpin, netbuf
from harness.lab import services
from harness.lab.docker_lab import docker_client, put_files
from harness.lab.keaversions import KEA_VERSIONS
from harness.lab.model import Lab, load_lab
from harness.lab.services import ContainerSpec
from testkit.hooklab import HookLab, pi_guid, sub
from testkit.hooklab.lab import TOOLS

REPO = Path(__file__).resolve().parents[1]

RESULTS = REPO / "bench" / "results" / "hook.json"
TOOLS_IMAGE = "malina-hook-bench/tools:2"
TOOLS_DOCKERFILE = b"""FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends kea-admin nginx-light iproute2 gcc libc6-dev \\
 && rm -rf /var/lib/apt/lists/*
"""
SLOW_BACKEND_SOURCE = REPO / "bench" / "slowbackend.py"
DHCPLOAD_SOURCE = REPO / "bench" / "dhcpload" / "dhcpload.c"
DHCPLOAD = "/usr/local/bin/dhcpload"  # built from DHCPLOAD_SOURCE in the load generators' containers
THREADS = 12
LOAD_CLIENTS = 64     # exchanges outstanding in a capacity run (bench/dhcpload: closed loop)
LOAD_WARMUP = 1.0     # seconds of a capacity run not measured
SLOW_CLIENTS = 512    # ... against the 100 ms backend (100 ms x 512 clients: up to ~5,000 DORA/s of demand)
SLOW_PORT = 8081      # bench/slowbackend.py, the 100 ms stand-in of the capacity case
WARM_RATE = 200  # DORA/s of the warm-up before a stopped/hung-backend run (Bench.warm)
DURATION = 6          # seconds per measured perfdhcp run
REPS = 5              # back-to-back (baseline, case) pairs per throughput case (the ratio: their median)
SLOW_RATE = 60        # offered DORA/s against the 100 ms backend
PARKED_CONCURRENCY = 600  # backend calls in flight on the parked path (below the case's parked-packet-limit)
FAST_PARKED_CONCURRENCY = 64  # the fast-backend cases' cap on 2.6+ (THREADS - 2 is a cap for waiting threads)
PARKED_PACKET_LIMIT = 1024  # Kea's parked-packet-limit in the capacity case (Kea's default: 256)
ISO_RATE = 300        # each of the two loads of the isolation case
PARKING_POINTS = ("lease4_offer", "leases4_committed")   # the parked path's hook points (Kea 2.6+)
LOG_SEVERITY = "WARN"  # Kea's loggers in the bench (INFO logs every lease: see Bench.configure)
VARIED_RATE = 200     # offered DORA/s of bench/o82gen.py (one Python thread: well below perfdhcp's reach)
BASE_PARAMS: dict[str, Any] = {
    "connect-timeout-ms": 200,
    "request-timeout-ms": 500,
    "cache-ttl-ms": 5000,
    "max-concurrent-requests": THREADS - 2,
    "log-interval-ms": 10000,
}
NGINX_CONF = """worker_processes 1;
pid /tmp/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 3600s;
  server {
    listen 8080;
    location /v1/dhcp/options {
      default_type application/json;
      return 200 '{"66": "%(tftp)s", "224": "%(public)s/v1/install/static"}';
    }
  }
}
"""


@dataclass
class Perf:
    rate: float          # completed DORA/s
    exchanges: int       # completed exchanges (ACKs received)
    drops: int
    do_p50: float        # DISCOVER→OFFER ms
    do_p99: float
    ra_p50: float        # REQUEST→ACK ms
    ra_p99: float
    with224: int = -1    # ACKs carrying option 224 (dhcpload only; -1: not counted)
    run_exchanges: int = -1  # exchanges of the whole run, warm-up included (dhcpload; -1: same as exchanges)
    socket_drops: int = -1   # datagrams the kernel dropped at Kea's full socket buffer (dhcpload; -1: not read)

    @property
    def all_exchanges(self) -> int:
        """Exchanges over the run the hook's counters cover (dhcpload measures after a warm-up)."""
        return self.exchanges if self.run_exchanges < 0 else self.run_exchanges


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def parse_perfdhcp(out: str) -> Perf:
    rate = re.search(r"Rate: ([0-9.]+) 4-way exchanges/second", out)
    if rate is None:
        raise RuntimeError(f"perfdhcp printed no rate:\n{out[-2000:]}")
    sections = out.split("***Timestamps for packets: ")
    delays: dict[str, list[float]] = {}
    for part in sections[1:]:
        name = part.split("***", 1)[0]
        pairs = re.findall(r"sent / received: ([0-9.]+) / ([0-9.]+)", part)
        delays[name] = [(float(r) - float(s)) * 1000.0 for s, r in pairs]
    stats = out.split("***Statistics for: REQUEST-ACK***")
    received = re.search(r"received packets: (\d+)", stats[1]) if len(stats) > 1 else None
    drops = sum(int(d) for d in re.findall(r"\ndrops: (\d+)", out))
    do, ra = delays.get("DISCOVER-OFFER", []), delays.get("REQUEST-ACK", [])
    return Perf(float(rate.group(1)), int(received.group(1)) if received else 0, drops,
                _percentile(do, 0.5), _percentile(do, 0.99), _percentile(ra, 0.5), _percentile(ra, 0.99))


@dataclass
class Variant:
    """One configuration measured in ``Bench.grouped``'s rounds: its case name, its config-set, its ratio's target."""
    name: str
    configure: Callable[[], None]
    target: str | None


@dataclass
class Measured:
    """A variant of ``Bench.grouped``: its last run, and its ratio to the same round's Kea alone, round by round."""
    perf: Perf
    ratios: list[float]


@dataclass
class Settings:
    duration: int = DURATION   # seconds per measured perfdhcp run
    reps: int = REPS

    @property
    def slow(self) -> int:     # seconds of the fixed-rate 100 ms backend run
        return max(1, min(10, self.duration + 4))


class Bench:
    def __init__(self, hl: HookLab, settings: Settings | None = None) -> None:
        self.hl = hl
        self.version = hl.lab.services.kea.version
        self.prefix = f"kea{self.version}:"
        self.settings = settings or Settings()
        self.parked = self.version != "2.2"   # 2.6+ parks the backend calls (hook/README.md)
        net = hl.lab.networks.server.subnet
        self.nginx_ip = str(net.network_address + 20)
        self.slow_ip = str(net.network_address + 22)
        self.perf_ips = (str(net.network_address + 30), str(net.network_address + 31))
        self.gen_ip = str(hl.lab.services.relay.address)   # the client container: bench/o82gen.py relays from it
        self.cases: list[dict[str, Any]] = []
        self.baseline: Perf | None = None
        self.baselines: list[float] = []
        o82 = sub(1, b"Gi1/0/1") + sub(2, b"tor-a-01")
        self.matching = ["-o", f"97,{pi_guid().hex()}", "-o", f"82,{o82.hex()}"]
        self.plain = ["-o", f"82,{o82.hex()}"]
        # dhcpload (capacity): each exchange its own circuit-id under the ToR's remote-id
        varied = ["--vary82", b"tor-a-01".hex()]
        self.load_matching = ["--option", f"97,{pi_guid().hex()}", *varied]
        self.load_plain = varied

    # -- lab ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        run = self.hl.run
        run.image_tags["bench-tools"] = ensure_tools_image()
        lab = self.hl.lab
        conf = NGINX_CONF % {"tftp": lab.services.tftp.address, "public": lab.services.backend.url}
        run.start_spec(ContainerSpec(role="nginx", image="bench-tools",
                                     command=["nginx", "-g", "daemon off;", "-c", "/etc/nginx/bench.conf"],
                                     networks={"server": self.nginx_ip},
                                     files={"/etc/nginx/bench.conf": conf.encode()}))
        body = json.dumps({"66": str(lab.services.tftp.address), "224": f"{lab.services.backend.url}/v1/install/slow"})
        run.start_spec(ContainerSpec(role="slow-backend", image="runtime",
                                     command=["python", f"{TOOLS}/slowbackend.py", "--port", str(SLOW_PORT),
                                              "--delay-ms", "100", "--body", body],
                                     networks={"server": self.slow_ip},
                                     files={f"{TOOLS}/slowbackend.py": SLOW_BACKEND_SOURCE.read_bytes()}))
        for i, ip in enumerate(self.perf_ips):
            run.start_spec(ContainerSpec(role=f"perf-{i}", image="bench-tools", command=["sleep", "infinity"],
                                         networks={"server": ip}))
        run.wait_tcp(self.nginx_ip, 8080)
        run.wait_tcp(self.slow_ip, SLOW_PORT)
        put_files(run.container("client"), {f"{TOOLS}/o82gen.py": (REPO / "bench" / "o82gen.py").read_bytes()})
        build_dhcpload(run, "perf-0")   # Bench.load runs it there; perf-1 only joins perfdhcp's isolation loads
        placed = hookpin.pin(run.containers)
        print(f"  cpusets: {placed or 'not pinned (fewer than 2 cores)'}", flush=True)

    def configure(self, *, hook: bool, url: str | None = None, dhcp4: dict[str, Any] | None = None,
                  floor: bool = False, floor_points: list[str] | None = None, **extra: Any) -> None:
        """A fresh config-set: the hook's parameters (``BASE_PARAMS`` and ``extra``), ``dhcp4`` globals; ``floor``:
        the floor library (hook/floor/floor.cc) in place of the hook, at ``floor_points`` when given."""
        params = dict(BASE_PARAMS)
        params.update(extra)
        if url is not None:
            params["url"] = url
        # Kea logs at WARN here, with and without the hook: at INFO it writes lines for every lease to stdout,
        # and docker's log path (containerd, dockerd) spent 0.65 of a core on them, outside Kea's cpuset
        self.hl.reconfigure(params, with_hook=hook, bench_relays=(*self.perf_ips, self.gen_ip),
                            log_severity=LOG_SEVERITY, dhcp4_globals=dhcp4, floor=floor,
                            floor_points=floor_points)
        time.sleep(1.0)

    def perfdhcp(self, which: int, rate: int, options: list[str], duration: int | None = None) -> Perf:
        duration = self.settings.duration if duration is None else duration
        cmd = ["perfdhcp", "-4", "-l", self.perf_ips[which], "-r", str(rate), "-p", str(duration),
               "-R", "16000000", "-b", f"mac=02:{which:02x}:00:00:00:00", "-x", "t", *options,
               self.hl.kea_address]
        # perfdhcp's report (every packet's timestamps) goes to a file in its container and is read after the
        # run: streamed through ``docker exec`` it cost dockerd and containerd 0.65 of a core while Kea was
        # measured, a ceiling of the bench's own
        out_file = f"/tmp/perfdhcp-{which}.out"
        rc, out = self.hl.run.exec(f"perf-{which}", ["sh", "-c", f'"$@" >{out_file} 2>&1', "perfdhcp", *cmd])
        if rc not in (0, 3):
            raise RuntimeError(f"perfdhcp failed ({rc}): {out[-2000:]}{self._perf_out(which, out_file)[-2000:]}")
        return parse_perfdhcp(self._perf_out(which, out_file))

    def _perf_out(self, which: int, path: str) -> str:
        rc, out = self.hl.run.exec(f"perf-{which}", ["cat", path])
        return out if rc == 0 else ""

    def concurrently(self, jobs: list[tuple[int, int, list[str]]]) -> list[Perf]:
        results: list[Perf | None] = [None] * len(jobs)
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                results[i] = self.perfdhcp(*jobs[i])
            except BaseException as exc:  # re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return [r for r in results if r is not None]

    # -- recording ------------------------------------------------------------------------------------------
    def add(self, name: str, value: float | None, unit: str, target: str | None = None,
            note: str = "") -> None:
        rounded = None if value is None else round(value, 3)
        name = self.prefix + name
        case: dict[str, Any] = {"name": name, "value": rounded, "unit": unit}
        if target is not None:
            case["target"] = target
        if note:
            case["note"] = note
        self.cases.append(case)
        print(f"  {name}: {case['value']} {unit}" + (f" (target {target})" if target else ""), flush=True)

    def record(self, case: str, perf: Perf, target_ratio: str | None) -> None:
        base = self.baseline
        self.add(f"{case}_dora_per_s", perf.rate, "DORA/s")
        self.add(f"{case}_offer_p50", perf.do_p50, "ms")
        self.add(f"{case}_offer_p99", perf.do_p99, "ms")
        self.add(f"{case}_ack_p50", perf.ra_p50, "ms")
        self.add(f"{case}_ack_p99", perf.ra_p99, "ms")
        if perf.socket_drops >= 0:   # bench/netbuf.py: each one a client lost for its whole timeout
            self.add(f"{case}_server_socket_drops", float(perf.socket_drops), "datagrams")
        if base is not None and target_ratio is not None and base.rate > 0:
            self.add(f"{case}_ratio", perf.rate / base.rate, "x baseline", target_ratio)

    def coverage(self, case: str, perf: Perf, share_target: str | None = None) -> None:
        """Share of completed exchanges answered by the backend; backend calls and cache hits per exchange."""
        stats = self.hl.hook_stats()
        answers = float(stats["backend-answers"])
        calls = float(stats["backend-calls"])
        hits = float(stats["cache-hits"])
        exchanges = perf.all_exchanges   # what the hook's counters saw
        if exchanges:
            self.add(f"{case}_backend_answered_share", min(1.0, answers / exchanges), "of exchanges", share_target)
            self.add(f"{case}_backend_calls_per_exchange", calls / exchanges, "calls", "~= 1")
            self.add(f"{case}_cache_hits_per_exchange", hits / exchanges, "hits")

    def failure_policy(self, case: str, perf: Perf, timeout_ms: int) -> None:
        """Matching clients get the failure policy within the timeout: OFFER/ACK p99 <= the request timeout,
        the policy on both replies of every exchange (counter >= 2 per completed exchange), no answers."""
        stats = self.hl.hook_stats()
        self.add(f"{case}_offer_p99_vs_timeout", perf.do_p99, "ms", f"<= {timeout_ms}")
        self.add(f"{case}_ack_p99_vs_timeout", perf.ra_p99, "ms", f"<= {timeout_ms}")
        if perf.all_exchanges:
            self.add(f"{case}_failure_policy_per_exchange", stats["failure-policy"] / perf.all_exchanges,
                     "replies (OFFER + ACK)", ">= 2")
        self.add(f"{case}_backend_answers", float(stats["backend-answers"]), "answers", "== 0")

    def isolation(self, label: str, base_plain: Perf, stub_url: str, **extra: Any) -> None:
        self.configure(hook=True, url=stub_url, **extra)
        plain, matching = self.concurrently([(0, ISO_RATE, self.plain), (1, ISO_RATE, self.matching)])
        # Kea 2.6+ (issue 14.2/14.3): a hung backend holds no packet thread, so the tighter targets
        p99, share = ("< 5", ">= 0.95") if self.parked else ("< 10", ">= 0.9")
        self.add(f"{label}_plain_offer_p99", plain.do_p99, "ms", p99)
        self.add(f"{label}_plain_ack_p99", plain.ra_p99, "ms", p99)
        self.add(f"{label}_plain_rate_ratio", plain.rate / base_plain.rate, "x same load without hook",
                 share)
        self.add(f"{label}_matching_dora_per_s", matching.rate, "DORA/s")
        stats = self.hl.hook_stats()
        self.add(f"{label}_breaker_refusals", float(stats["breaker-open"]), "refusals")
        self.add(f"{label}_overloaded_drops", float(stats["overloaded"]), "dropped replies")

    # -- cases ----------------------------------------------------------------------------------------------
    def warm(self, stub_url: str) -> None:
        """A fresh hook on a dead backend, past its first seconds: the first calls wait out their timeouts
        (connect-timeout-ms stopped, request-timeout-ms hung) while every other new client is dropped as
        overloaded, until the breaker opens. That start lasts the same at any rate and would dominate a short
        run; the steady failure policy is what cases 5a/5b measure (their latency targets still see the
        breaker's half-open probes)."""
        self.configure(hook=True, url=stub_url)
        self.perfdhcp(0, WARM_RATE, self.matching, duration=1)

    def load(self, options: list[str], *, clients: int = LOAD_CLIENTS, timeout_s: float = 1.0) -> Perf:
        """One closed-loop run of bench/dhcpload from the first generator: ``clients`` exchanges outstanding
        for the run's duration, the first ``LOAD_WARMUP`` s not measured. Timed-out exchanges count as drops."""
        cmd = [DHCPLOAD, "--server", self.hl.kea_address, "--local", self.perf_ips[0], "--clients", str(clients),
               "--duration", str(self.settings.duration), "--warmup", str(LOAD_WARMUP), "--timeout", str(timeout_s),
               *options]
        dropped = netbuf.rcvbuf_errors(self.hl.run, "kea")
        rc, out = self.hl.run.exec("perf-0", cmd)
        if rc != 0:
            raise RuntimeError(f"dhcpload failed ({rc}): {out[-2000:]}")
        perf = parse_dhcpload(out)
        perf.socket_drops = netbuf.rcvbuf_errors(self.hl.run, "kea") - dropped
        return perf

    def capacity(self, options: list[str], configure: Callable[[], None]) -> Perf:
        """Completed DORA/s at the case's capacity (closed loop), on fresh leases and hook state."""
        configure()
        return self.load(options)

    def fast_backend_params(self) -> dict[str, Any]:
        """The hook's concurrency cap for a fast backend: on 2.2 a call holds a packet thread, so the cap stays
        under the pool (``BASE_PARAMS``); on the parked path (2.6+) a call holds a socket, not a thread, and a cap
        of THREADS - 2 dropped DISCOVERs as "overloaded" at ~2,500 DORA/s with Kea's core not yet busy (10 calls
        in flight at ~4 ms each): an operator on 2.6+ sizes it for the backend, not for Kea's threads."""
        return {"max-concurrent-requests": FAST_PARKED_CONCURRENCY} if self.parked else {}

    def paired(self, case: str, options: list[str], configure: Callable[[], None], target: str | None, *,
               clients: int = LOAD_CLIENTS, timeout_s: float = 1.0) -> Perf:
        """The case and Kea without the hook measured back to back REPS times; the ratio is the median. Kea alone
        always runs at ``LOAD_CLIENTS`` (its capacity); ``clients`` and ``timeout_s`` are the case's own load."""
        return self.grouped(options, [Variant(case, configure, target)], clients=clients,
                            timeout_s=timeout_s)[case].perf

    def grouped(self, options: list[str], variants: list[Variant], *, clients: int = LOAD_CLIENTS,
                timeout_s: float = 1.0) -> dict[str, Measured]:
        """Kea alone then each variant, back to back, REPS times: each variant's ratio is the median of its ratios
        to the Kea alone of the same round, so variants measured in one group compare on the same baselines."""
        ratios: dict[str, list[float]] = {v.name: [] for v in variants}
        perfs: dict[str, Perf] = {}
        for _ in range(self.settings.reps):
            # The same packets as the case (case 1 sends no option 97): only the hook differs.
            base = self.capacity(options, lambda: self.configure(hook=False))
            self.baselines.append(base.rate)
            for v in variants:
                v.configure()
                perf = self.load(options, clients=clients, timeout_s=timeout_s)
                ratios[v.name].append(perf.rate / base.rate)
                perfs[v.name] = perf
        for v in variants:
            self.record(v.name, perfs[v.name], None)
            self.add(f"{v.name}_ratio", statistics.median(ratios[v.name]), "x baseline", v.target)
        return {v.name: Measured(perfs[v.name], ratios[v.name]) for v in variants}

    def run_all(self) -> None:
        hl = self.hl
        stub_url = f"{hl.backend_url}/v1/dhcp/options"
        print("case 0: Kea without the hook", flush=True)
        self.baseline = self.measured_baseline()
        self.record("baseline", self.baseline, None)
        self.add("load_clients", float(LOAD_CLIENTS), "exchanges outstanding (closed loop)")

        # Case 1b in the same rounds: Kea's own price of the hook's hook points (hook/floor/floor.cc, callouts that
        # return at once), so the no-match ratio splits into what Kea charges and what the hook's callouts add.
        print("case 1: hook loaded, no client matching (1b: the floor library, in the same rounds)", flush=True)
        variants = [Variant("hook_points_floor", lambda: self.configure(hook=False, floor=True), None)]
        if self.parked:   # 2.6+: the price of the parking points and of pkt4_send, each alone
            variants += [
                Variant("hook_points_floor_parking",
                        lambda: self.configure(hook=False, floor=True, floor_points=list(PARKING_POINTS)), None),
                Variant("hook_points_floor_pkt4_send",
                        lambda: self.configure(hook=False, floor=True, floor_points=["pkt4_send"]), None),
            ]
        variants.append(Variant("no_match", lambda: self.configure(hook=True, url=stub_url), ">= 0.95"))
        measured = self.grouped(self.load_plain, variants)
        self.add("no_match_backend_calls", float(hl.hook_stats()["backend-calls"]), "calls", "== 0")
        floor, no_match = measured["hook_points_floor"].ratios, measured["no_match"].ratios
        self.add("no_match_vs_floor_ratio", statistics.median([n / f for n, f in zip(no_match, floor, strict=True)]),
                 "x the floor library (the hook's own no-match callouts)")

        print("case 2: static fast backend (nginx, keep-alive)", flush=True)
        nginx_url = f"http://{self.nginx_ip}:8080/v1/dhcp/options"
        fast = self.fast_backend_params()
        perf = self.paired("nginx", self.load_matching, lambda: self.configure(hook=True, url=nginx_url, **fast),
                           ">= 0.5")
        self.add("nginx_max_concurrent_requests", float(fast.get("max-concurrent-requests",
                                                                 BASE_PARAMS["max-concurrent-requests"])), "calls")
        self.coverage("nginx", perf)

        print("case 2b: option 82 per client (bench/o82gen.py), stand-in backend", flush=True)
        self.varied82(stub_url)

        print("case 3: malina backend", flush=True)
        self.malina_backend()

        print("case 4: backend answering in 100 ms", flush=True)
        hl.set_mode("slow", delay_ms=100)
        slow: dict[str, Any] = {"request-timeout-ms": 1000}
        self.configure(hook=True, url=stub_url, **slow)
        perf = self.perfdhcp(0, SLOW_RATE, self.matching, duration=self.settings.slow)
        self.add("slow100_dora_per_s", perf.rate, "DORA/s", ">= 50")
        self.add("slow100_offer_p50", perf.do_p50, "ms")
        self.add("slow100_offer_p99", perf.do_p99, "ms")
        self.add("slow100_ack_p50", perf.ra_p50, "ms")
        self.add("slow100_ack_p99", perf.ra_p99, "ms")
        self.coverage("slow100", perf, share_target=">= 1.0")
        self.add("slow100_failure_policy", float(hl.hook_stats()["failure-policy"]), "replies", "== 0")
        if self.parked:
            self.slow_capacity()
        hl.set_mode("install")

        print("case 5a: backend stopped", flush=True)
        backend = hl.run.container("backend")
        backend.stop(timeout=1)
        timeout_ms = int(BASE_PARAMS["request-timeout-ms"])
        try:
            perf = self.paired("stopped", self.load_matching, lambda: self.warm(stub_url), ">= 0.8")
            self.failure_policy("stopped", perf, timeout_ms)
        finally:
            backend.start()
            hl.run.wait_tcp(str(hl.lab.services.backend.address), hl.lab.services.backend.port)

        print("case 5b: backend hung", flush=True)
        hl.set_mode("hang")
        perf = self.paired("hung", self.load_matching, lambda: self.warm(stub_url), ">= 0.8")
        self.failure_policy("hung", perf, timeout_ms)

        print("case 6: isolation (non-matching at a fixed rate, matching on a hung backend)", flush=True)
        self.configure(hook=False)
        base_plain, _ = self.concurrently([(0, ISO_RATE, self.plain), (1, ISO_RATE, self.matching)])
        self.add("isolation_baseline_plain_offer_p99", base_plain.do_p99, "ms")
        # 6a: default breaker (it opens after 3 timeouts); 6b: breaker out of the way, so only the
        # concurrency bound (thread-pool-size - 1 calls) keeps the non-matching clients flowing.
        self.isolation("isolation", base_plain, stub_url)
        print("case 6b: isolation with the breaker out of the way (concurrency bound only)", flush=True)
        self.isolation("isolation_nobreaker", base_plain, stub_url, **{"breaker-threshold": 1000000})
        hl.set_mode("install")
        if self.baselines:
            self.add("baseline_spread", (max(self.baselines) - min(self.baselines)) / max(self.baselines),
                     "relative (machine noise)")

    def varied82(self, stub_url: str) -> None:
        """Matching clients each with its own option 82 (bench/o82gen.py, from the client container on the
        load generator's core) at a fixed rate, with the hook and without: what perfdhcp cannot send. No
        target yet (a new case): DORA/s, latency, and that every ACK carried the backend's option 224."""
        cmd = ["python", f"{TOOLS}/o82gen.py", "--server", self.hl.kea_address, "--giaddr", self.gen_ip,
               "--rate", str(VARIED_RATE), "--duration", str(self.settings.duration), "--guid", pi_guid().hex()]
        results: dict[str, dict[str, Any]] = {}
        for label, hook in (("without_hook", False), ("hook", True)):
            self.configure(hook=hook, url=stub_url)
            rc, out = self.hl.run.exec("client", cmd)
            if rc != 0:
                raise RuntimeError(f"o82gen failed ({rc}): {out[-2000:]}")
            results[label] = json.loads(out.strip().splitlines()[-1])
        plain, hooked = results["without_hook"], results["hook"]
        self.add("varied82_dora_per_s", hooked["rate"], "DORA/s")
        self.add("varied82_offer_p99", hooked["offer_p99"], "ms")
        self.add("varied82_ack_p99", hooked["ack_p99"], "ms")
        if plain["rate"]:
            self.add("varied82_ratio", hooked["rate"] / plain["rate"], "x same load without hook")
        if hooked["acks"]:
            self.add("varied82_acks_with_224_share", hooked["acks_with_224"] / hooked["acks"], "of ACKs")
            stats = self.hl.hook_stats()
            self.add("varied82_backend_calls_per_exchange", stats["backend-calls"] / hooked["acks"], "calls")

    def measured_baseline(self) -> Perf:
        """Kea alone at its capacity, with the CPU both sides used meanwhile (cores): the evidence that the
        baseline is Kea's ceiling (Kea's core saturated) and not the generator's (its core not)."""
        self.configure(hook=False)
        kea, gen = self.hl.run.container("kea"), self.hl.run.container("perf-0")
        cores = hookpin.CoreBusy()
        k0, g0, t0 = hookpin.cpu_seconds(kea), hookpin.cpu_seconds(gen), time.monotonic()
        cores.start()
        perf = self.load(self.load_matching)
        busy = cores.stop()
        k1, g1, t1 = hookpin.cpu_seconds(kea), hookpin.cpu_seconds(gen), time.monotonic()
        self.add("baseline_kea_cpu", (k1 - k0) / (t1 - t0), "cores (Kea's cpuset: 1 core)")
        self.add("baseline_loadgen_cpu", (g1 - g0) / (t1 - t0), "cores (the generator's cpuset: 1 core)")
        if hookpin.can_pin():  # the kernel's packet work too, which no container's cgroup carries
            self.add("baseline_server_core_busy", busy.get(hookpin.SERVER_CORE, 0.0), "of core "
                     f"{hookpin.SERVER_CORE} (Kea and its stand-ins)")
            self.add("baseline_loadgen_core_busy", busy.get(hookpin.LOADGEN_CORE, 0.0), "of core "
                     f"{hookpin.LOADGEN_CORE} (the load generator)")
        return perf

    def slow_capacity(self) -> None:
        """Kea 2.6+: the 100 ms backend at the case's own capacity (parked calls, ``SLOW_CLIENTS`` exchanges
        outstanding), as a ratio to Kea alone; every ACK must carry the backend's option 224."""
        print("case 4b: backend answering in 100 ms, at capacity (parked path)", flush=True)
        extra: dict[str, Any] = {"request-timeout-ms": 1000, "max-concurrent-requests": PARKED_CONCURRENCY}
        # bench/slowbackend.py (one asyncio loop), not the lab's stub (a thread per connection, which could not
        # keep hundreds of 100 ms calls answered and measured itself)
        url = f"http://{self.slow_ip}:{SLOW_PORT}/v1/dhcp/options"
        limit = {"parked-packet-limit": PARKED_PACKET_LIMIT}
        perf = self.paired("slow100_capacity", self.load_matching,
                           lambda: self.configure(hook=True, url=url, dhcp4=limit, **extra), ">= 0.3",
                           clients=SLOW_CLIENTS, timeout_s=2.0)
        self.add("slow100_capacity_clients", float(SLOW_CLIENTS), "exchanges outstanding")
        self.coverage("slow100_capacity", perf, share_target=">= 1.0")
        if perf.exchanges:
            self.add("slow100_capacity_acks_with_224_share", perf.with224 / perf.exchanges, "of ACKs", ">= 1.0")
        self.add("slow100_capacity_failure_policy", float(self.hl.hook_stats()["failure-policy"]), "replies",
                 "== 0")

    def malina_backend(self) -> None:
        hl = self.hl
        spec = services.backend_spec(hl.lab, hook_secret=hl.run.hook_secret)  # the secret the hook sends
        spec.role = "malina-backend"
        ip = str(hl.lab.networks.server.subnet.network_address + 21)
        spec.networks = {"server": ip}
        spec.routes_via_relay = False
        hookpin.pin({"malina-backend": hl.run.start_spec(spec)})
        try:
            hl.run.wait_tcp(ip, hl.lab.services.backend.port, timeout=60)
        except Exception as exc:
            self.add("malina_dora_per_s", None, "DORA/s", note=f"malina backend did not start: {exc}")
            return
        url = f"http://{ip}:{hl.lab.services.backend.port}/v1/dhcp/options"
        fast = self.fast_backend_params()
        perf = self.capacity(self.load_matching, lambda: self.configure(hook=True, url=url, **fast))
        self.record("malina", perf, None)
        if self.baseline is not None:
            self.add("malina_ratio", perf.rate / self.baseline.rate, "x baseline")
        self.coverage("malina", perf)


def parse_dhcpload(out: str) -> Perf:
    """bench/dhcpload's JSON line (its last line of output) as a Perf; timed-out exchanges are its drops."""
    lines = [line for line in out.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"dhcpload printed no result:\n{out[-2000:]}")
    doc = json.loads(lines[-1])
    return Perf(float(doc["rate"]), int(doc["exchanges"]), int(doc["timeouts"]), float(doc["offer_p50"]),
                float(doc["offer_p99"]), float(doc["ack_p50"]), float(doc["ack_p99"]), int(doc["acks_with_224"]),
                int(doc["all_exchanges"]))


def build_dhcpload(run: Any, role: str) -> None:
    """Compile bench/dhcpload in a load generator's container (the tools image carries gcc)."""
    put_files(run.container(role), {"/tmp/dhcpload.c": DHCPLOAD_SOURCE.read_bytes()})
    rc, out = run.exec(role, ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-o", DHCPLOAD,
                              "/tmp/dhcpload.c"])
    if rc != 0:
        raise RuntimeError(f"building dhcpload in {role} failed ({rc}): {out[-2000:]}")


def ensure_tools_image() -> str:
    client = docker_client()
    try:
        client.images.get(TOOLS_IMAGE)
        return TOOLS_IMAGE
    except Exception:
        pass
    print(f"building {TOOLS_IMAGE} (kea-admin for perfdhcp, nginx-light)", flush=True)
    client.images.build(fileobj=io.BytesIO(TOOLS_DOCKERFILE), tag=TOOLS_IMAGE, rm=True, forcerm=True,
                        labels={"malina.owner": "hook"})
    return TOOLS_IMAGE


def summary(cases: list[dict[str, Any]], version: str) -> str:
    prefix = f"kea{version}:"

    def v(name: str) -> str:
        for c in cases:
            if c["name"] == prefix + name:
                return "n/a" if c["value"] is None else f"{c['value']:g}"
        return "n/a"

    parked = (f"; 100ms at capacity {v('slow100_capacity_ratio')}x "
              f"(answered {v('slow100_capacity_backend_answered_share')})") if version != "2.2" else ""
    return (f"hook kea{version}: baseline {v('baseline_dora_per_s')} DORA/s (Kea {v('baseline_kea_cpu')} / "
            f"generator {v('baseline_loadgen_cpu')} cores); ratios no-match {v('no_match_ratio')} "
            f"(floor {v('hook_points_floor_ratio')}), "
            f"nginx {v('nginx_ratio')}, stopped {v('stopped_ratio')}, hung {v('hung_ratio')}; "
            f"100ms backend {v('slow100_dora_per_s')} DORA/s "
            f"(answered {v('slow100_backend_answered_share')}){parked}; "
            f"isolation p99 {v('isolation_plain_offer_p99')}/{v('isolation_plain_ack_p99')} ms, "
            f"rate {v('isolation_plain_rate_ratio')}x; without breaker "
            f"{v('isolation_nobreaker_plain_offer_p99')}/{v('isolation_nobreaker_plain_ack_p99')} ms, "
            f"{v('isolation_nobreaker_plain_rate_ratio')}x")


def run_version(lab: Lab, version: str, settings: Settings) -> list[dict[str, Any]]:
    """Every case against one Kea release, in a lab of its own (its images: ``kea-hook-<version>``)."""
    print(f"== Kea {version}", flush=True)
    with HookLab.up(lab.with_kea_version(version), params=BASE_PARAMS, threads=THREADS) as hl:
        bench = Bench(hl, settings)
        bench.start()
        bench.run_all()
    return bench.cases


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.hook",
                                 description="perfdhcp against Kea with and without the hook, per Kea release")
    ap.add_argument("--versions", default=",".join(KEA_VERSIONS),
                    help=f"comma-separated Kea releases (default: all, {','.join(KEA_VERSIONS)})")
    ap.add_argument("--duration", type=int, default=DURATION, help="seconds per measured perfdhcp run")
    ap.add_argument("--reps", type=int, default=REPS, help="(baseline, case) pairs per throughput case")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results file")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    unknown = [v for v in versions if v not in KEA_VERSIONS]
    if unknown:
        raise SystemExit(f"unknown Kea release(s) {unknown}; known: {list(KEA_VERSIONS)}")
    settings = Settings(duration=max(1, args.duration), reps=max(1, args.reps))
    lab = load_lab(REPO / "lab.yaml")
    cases: list[dict[str, Any]] = []
    with netbuf.receive_buffers() as rcvbuf:   # before the labs start: Kea's sockets are made with it
        print(f"socket receive buffer (net.core.rmem_default) for the run: {rcvbuf} bytes", flush=True)
        for version in versions:
            cases += run_version(lab, version, settings)
    doc = {"benchmark": "hook", "threads": THREADS, "duration_s": settings.duration, "reps": settings.reps,
           "rcvbuf_default_bytes": rcvbuf,
           "kea_versions": versions, "cpusets": {"server": hookpin.SERVER_CORE, "loadgen": hookpin.LOADGEN_CORE}
           if hookpin.can_pin() else None, "cases": cases}
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out)
    for version in versions:
        print(summary(cases, version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
