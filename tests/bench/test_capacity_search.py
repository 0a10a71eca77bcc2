"""``bench.hook.Bench.sustainable_rate`` against a simulated server (the lab is faked: only the search is tested)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bench.hook import MIN_RATE, REFINE_RESOLUTION, Bench, Perf


def fake_bench(capacity: float, *, version: str = "2.6") -> tuple[Bench, list[int]]:
    """A Bench whose perfdhcp completes what it is offered up to ``capacity`` and collapses to a third above it
    (a flooded server), recording every offered rate."""
    net = SimpleNamespace(subnet=__import__("ipaddress").ip_network("10.89.0.0/24"))
    lab = SimpleNamespace(services=SimpleNamespace(kea=SimpleNamespace(version=version),
                                                   relay=SimpleNamespace(address="10.89.0.3")),
                          networks=SimpleNamespace(server=net))
    bench = Bench(SimpleNamespace(lab=lab))  # type: ignore[arg-type]
    offered: list[int] = []

    def perfdhcp(which: int, rate: int, options: list[str], duration: int | None = None) -> Perf:
        offered.append(rate)
        done = rate if rate <= capacity else capacity / 3
        return Perf(done, int(done), 0, 0.3, 1.0, 0.3, 1.0)

    bench.perfdhcp = perfdhcp  # type: ignore[method-assign]
    return bench, offered


def noop(*_: Any) -> None:
    return None


def test_the_search_lands_within_the_resolution_below_a_capacity_between_two_rungs() -> None:
    bench, offered = fake_bench(6800)
    rate = bench.sustainable_rate([], noop)
    assert offered[:3] == [12000, 7200, 4320], offered  # the ladder: collapsed, collapsed, held
    assert rate <= 6800 / 0.9 and rate >= 6800 * (1 - 2 * REFINE_RESOLUTION), (rate, offered)
    assert len(offered) <= 6


def test_a_rung_that_holds_at_once_is_not_refined() -> None:
    bench, offered = fake_bench(20000)
    assert bench.sustainable_rate([], noop) == 12000
    assert offered == [12000]


def test_a_server_that_never_holds_is_not_refined() -> None:
    bench, offered = fake_bench(10)
    rate = bench.sustainable_rate([], noop)
    assert len(offered) == 6 and MIN_RATE <= rate < offered[-1], offered  # the ladder only, no bisection


def test_the_fast_backend_cap_is_raised_only_where_calls_park() -> None:
    assert fake_bench(1, version="2.2")[0].fast_backend_params() == {}
    assert fake_bench(1, version="3.0")[0].fast_backend_params()["max-concurrent-requests"] > 10
