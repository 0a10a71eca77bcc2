"""Prometheus metrics of the backend (``GET /metrics``; every name and its meaning: backend/README.md "Metrics").

Three sources:
- counted by this process as things happen (reset when it restarts, which Prometheus' ``rate`` expects):
  installs by result, time per install phase, flags (``InstallMetrics``, under a lock), bumped by the service
  once its transaction committed (a retried transaction counts once);
- the options hot path (``OptionsMetrics``): plain integers bumped on the event loop's thread, no lock, no
  label lookup, so a request pays a few tenths of a microsecond (measured in backend/README.md);
- read at scrape time: machines by state and boot mode, flagged machines (one grouped query), and the hook's
  counters from Kea (``backend.keastats``), ``malina_hook_up 0`` when Kea does not answer.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend import keastats, states
from backend.db import Database
from backend.models import Attempt, Event, Machine

# The classic text format (what generate_latest writes), which every Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The options hot path answers in about 0.1-1 ms; a write (new token) takes a transaction.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# A phase of a real install takes seconds (netboot) to tens of minutes (writing a card).
PHASE_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
INSTALL_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0)
# The states an attempt leaves forward (booted-ok and failed are final).
PHASES = ("pending", "netbooting", "writing", "verifying", "configured")
RESULTS = ("success", "failed", "expired", "cancelled")
FLAG_KINDS = ("loop", "identity", "attempts", "interruptions")
MODES = ("install", "local")


def flag_kind(reason: str) -> str:
    """What a flag is about, from its reason (the texts of ``backend.decision`` and ``backend.service``):
    ``loop`` (the loop guard), ``attempts`` (the attempt cap), ``interruptions`` (the interruption cap),
    ``identity`` (any other: a MAC or serial that does not match, a board on another machine's or an unknown port).
    The web page classifies the same way."""
    text = reason.lower()
    if text.startswith("loop guard"):
        return "loop"
    if "attempt cap" in text or "install attempts failed" in text:
        return "attempts"
    if "interruption cap" in text:
        return "interruptions"
    return "identity"


def attempt_result(error: str, result_status: str | None) -> str:
    """How an attempt that ended without success ended: ``failed`` (the installer reported a failure or the
    verification failed), ``expired`` (its token ran out), ``cancelled`` (an operator's action or a flag)."""
    if result_status == "failure":
        return "failed"
    if error.startswith("cancelled"):
        return "cancelled"
    if error.startswith("token expired"):
        return "expired"
    return "failed"


def state_entered_at(session: Session, machine_id: int, attempt: Attempt) -> float:
    """When ``attempt`` entered its current state: its latest state event, or its creation (``pending``)."""
    at = session.scalar(select(func.max(Event.at)).where(
        Event.machine_id == machine_id, Event.attempt_id == attempt.id, Event.kind == "state"))
    return float(at) if at is not None else attempt.created_at


class _Buckets:
    """A histogram's counts without a lock: only one thread (the event loop's) observes."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # bucket ``le`` counts value <= le
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count of values <= le)`` per bucket, ``+Inf`` last, as the text format writes them."""
        counts, total, out = list(self.counts), 0, []
        for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
            total += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
        return out


class OptionsMetrics(Collector):
    """``GET /v1/dhcp/options``: requests by answer and their latency in the app, by path (read-only or write)."""

    def __init__(self) -> None:
        self.install = 0
        self.local = 0
        self.errors = 0
        self.read = _Buckets(LATENCY_BUCKETS)
        self.write = _Buckets(LATENCY_BUCKETS)

    def answered(self, install: bool, wrote: bool, seconds: float) -> None:
        if install:
            self.install += 1
        else:
            self.local += 1
        (self.write if wrote else self.read).observe(seconds)

    def refused(self) -> None:
        self.errors += 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("malina_options_requests", "DHCP options requests from the hook, by answer "
                                       "(install: 66 and 224; local: 66 = 0.0.0.0; error: 422/503)", labels=["answer"])
        for answer, count in (("install", self.install), ("local", self.local), ("error", self.errors)):
            requests.add_metric([answer], count)
        yield requests
        latency = HistogramMetricFamily("malina_options_latency_seconds", "time the backend took to answer an "
                                        "options request, by path (read: one read; write: a transaction)",
                                        labels=["path"])
        for path, buckets in (("read", self.read), ("write", self.write)):
            latency.add_metric([path], buckets.cumulative(), buckets.sum)
        yield latency


class InstallMetrics(Collector):
    """Installs by result, time per phase, install durations, flags. Counted from the thread pool (the service's
    transactions) and read by the scrape: one lock, taken a handful of times per install."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results = dict.fromkeys(RESULTS, 0)  # every series exists from the start, at 0
        self.phases = {phase: _Buckets(PHASE_BUCKETS) for phase in PHASES}
        self.durations = _Buckets(INSTALL_BUCKETS)
        self.flags = dict.fromkeys(FLAG_KINDS, 0)

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            installs = CounterMetricFamily("malina_installs", "install attempts that ended, by result (success: "
                                           "verified; failed; expired: the token ran out; cancelled)",
                                           labels=["result"])
            for result, count in self.results.items():
                installs.add_metric([result], count)
            phases = HistogramMetricFamily("malina_install_phase_seconds", "time an install attempt spent in a "
                                           "phase, observed when it moved on to a later one", labels=["phase"])
            for phase, buckets in self.phases.items():
                phases.add_metric([phase], buckets.cumulative(), buckets.sum)
            durations = HistogramMetricFamily("malina_install_duration_seconds", "time from the install token to "
                                              "the verified result")
            durations.add_metric([], self.durations.cumulative(), self.durations.sum)
            flags = CounterMetricFamily("malina_flags", "machines flagged, by kind (loop, identity, attempts)",
                                        labels=["kind"])
            for kind, count in self.flags.items():
                flags.add_metric([kind], count)
        yield from (installs, phases, durations, flags)


class Metrics:
    """The metrics of one backend process: the service counts into it, ``render`` writes the exposition."""

    def __init__(self) -> None:
        self.options = OptionsMetrics()
        self.installs = InstallMetrics()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.options)
        self.registry.register(self.installs)

    def attempt_ended(self, error: str, result_status: str | None) -> None:
        with self.installs.lock:
            self.installs.results[attempt_result(error, result_status)] += 1

    def installed(self, seconds: float) -> None:
        with self.installs.lock:
            self.installs.results["success"] += 1
            self.installs.durations.observe(max(0.0, seconds))

    def phase_left(self, previous: str, state: str, seconds: float) -> None:
        """An attempt moved from ``previous`` to ``state``: a phase ended, if it moved forward (an installer that
        starts over goes back to netbooting: its interrupted phase is no duration of that phase)."""
        if previous in PHASES and state in states.ORDER and states.ORDER.index(state) > states.ORDER.index(previous):
            with self.installs.lock:
                self.installs.phases[previous].observe(max(0.0, seconds))

    def flagged(self, reason: str) -> None:
        with self.installs.lock:
            self.installs.flags[flag_kind(reason)] += 1

    def render(self, db: Database, kea_url: str | None, kea_timeout_s: float) -> bytes:
        """The text exposition: this process's metrics, then the database's and Kea's read now."""
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(_Scrape(db, kea_url, kea_timeout_s))
        return generate_latest(self.registry) + generate_latest(scrape)


class _Scrape(Collector):
    """What is read at scrape time: the machines from the database, the hook's counters from Kea."""

    def __init__(self, db: Database, kea_url: str | None, kea_timeout_s: float) -> None:
        self.db = db
        self.kea_url = kea_url
        self.kea_timeout_s = kea_timeout_s

    def collect(self) -> Iterator[Metric]:
        yield from _machine_families(self.db)
        if self.kea_url:
            yield from _hook_families(keastats.hook_stats(self.kea_url, self.kea_timeout_s))


def _machine_families(db: Database) -> Iterable[Metric]:
    up = GaugeMetricFamily("malina_database_up", "1 when the database answered this scrape")
    try:
        with db.sessions() as session:
            by_state = session.execute(
                select(Machine.boot_mode, Attempt.state, func.count())
                .outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
                .group_by(Machine.boot_mode, Attempt.state)).all()
            reasons = list(session.scalars(select(Machine.flag_reason).where(Machine.flagged)))
    except Exception:  # a scrape must answer even with the database down: it says so in malina_database_up
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    counts = {(mode, state): 0 for mode in MODES for state in (*states.ORDER, "failed", "none")}
    for mode, state, count in by_state:
        counts[(mode, state or "none")] = counts.get((mode, state or "none"), 0) + count
    machines = GaugeMetricFamily("malina_machines", "machines by boot mode and the state of their latest install "
                                 "attempt (none: never installed)", labels=["boot_mode", "state"])
    for (mode, state), count in sorted(counts.items()):
        machines.add_metric([mode, state], count)
    kinds = dict.fromkeys(FLAG_KINDS, 0)
    for reason in reasons:
        kinds[flag_kind(reason or "")] += 1
    flagged = GaugeMetricFamily("malina_machines_flagged", "machines flagged now (booting local until an operator "
                                "acts), by kind", labels=["kind"])
    for kind, count in kinds.items():
        flagged.add_metric([kind], count)
    return [up, machines, flagged]


def _hook_families(stats: dict[str, int] | None) -> Iterable[Metric]:
    up = GaugeMetricFamily("malina_hook_up", "1 when Kea answered remote-options-stats for this scrape")
    up.add_metric([], 0 if stats is None else 1)
    yield up
    if stats is None:
        return
    for kea_name, name in keastats.COUNTERS.items():
        if kea_name in stats:
            counter = CounterMetricFamily(f"malina_hook_{name}", f"the hook's {kea_name} counter (reset when Kea "
                                          "loads the hook)")
            counter.add_metric([], stats[kea_name])
            yield counter
    for kea_name, name in keastats.GAUGES.items():
        if kea_name in stats:
            gauge = GaugeMetricFamily(f"malina_hook_{name}", f"the hook's {kea_name} now")
            gauge.add_metric([], stats[kea_name])
            yield gauge
