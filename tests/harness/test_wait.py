"""The one wait helper (``harness.wait``) on a fake clock: reached, timed out, the message, the ``>=`` rule."""

from __future__ import annotations

import pytest

from harness.wait import Deadline, WaitTimeout, timeout_message, wait_until


class FakeClock:
    """Time moves only when slept on; every sleep is recorded."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Boom(Exception):
    pass


def test_reached_returns_the_answer_without_sleeping_more_than_needed() -> None:
    clock = FakeClock()
    answers = iter([None, False, {"state": "booted-ok"}])
    got = wait_until("x", lambda: next(answers), timeout=10, interval=1.0, clock=clock)
    assert got == {"state": "booted-ok"}
    assert clock.slept == [1.0, 1.0]


def test_a_falsy_value_other_than_none_or_false_is_an_answer() -> None:
    assert wait_until("x", lambda: 0, timeout=1, clock=FakeClock()) == 0
    assert wait_until("x", lambda: "", timeout=1, clock=FakeClock()) == ""


def test_timed_out_raises_the_callers_class_with_the_one_message() -> None:
    clock = FakeClock()
    tries: list[float] = []

    def probe() -> None:
        tries.append(clock.now - 100.0)
        raise Boom("refused")

    with pytest.raises(ConnectionError) as info:
        wait_until("backend healthy", probe, timeout=1.0, interval=0.3, retry_on=(Boom,), error=ConnectionError,
                   clock=clock)
    assert str(info.value) == "backend healthy not reached within 1 s (last: Boom: refused)"
    # tried at 0, 0.3, 0.6, 0.9 and once more at the deadline itself (the last sleep cut to what was left)
    assert tries == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.0])
    assert clock.now == pytest.approx(101.0)


def test_default_error_and_describe() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as info:
        wait_until("pi-01 booted-ok", lambda: None, timeout=2.5, interval=1.0, describe=lambda: "state 'writing'",
                   clock=clock)
    assert str(info.value) == "pi-01 booted-ok not reached within 2.5 s (last: state 'writing')"
    assert isinstance(info.value, TimeoutError)


def test_an_exception_not_retried_propagates_at_once() -> None:
    clock = FakeClock()

    def probe() -> None:
        raise Boom("permanent")

    with pytest.raises(Boom):
        wait_until("x", probe, timeout=10, clock=clock)
    assert clock.slept == []


def test_a_zero_timeout_still_tries_once() -> None:
    calls: list[int] = []
    with pytest.raises(WaitTimeout):
        wait_until("x", lambda: calls.append(1), timeout=0, clock=FakeClock())
    assert calls == [1]
    assert wait_until("x", lambda: True, timeout=0, clock=FakeClock()) is True


def test_deadline_expires_at_greater_or_equal() -> None:
    clock = FakeClock()
    d = Deadline(2.0, clock=clock)
    clock.now += 1.999
    assert not d.expired and d.remaining == pytest.approx(0.001)
    clock.now = d.end  # exactly at the deadline: passed (the one rule is >=)
    assert d.expired and d.remaining == 0.0
    clock.now += 5
    assert d.remaining == 0.0 and d.elapsed == pytest.approx(7.0)


def test_deadline_sleep_never_oversleeps() -> None:
    clock = FakeClock()
    d = Deadline(1.0, clock=clock)
    d.sleep(0.7)
    d.sleep(0.7)
    d.sleep(0.7)
    assert clock.slept == pytest.approx([0.7, 0.3, 0.0])


def test_a_shared_deadline_bounds_the_wait() -> None:
    clock = FakeClock()
    d = Deadline(1.0, clock=clock)
    clock.now += 0.8  # spent elsewhere before the wait
    with pytest.raises(WaitTimeout, match=r"not reached within 1 s"):
        wait_until("x", lambda: None, timeout=d, interval=0.5)
    assert clock.now == pytest.approx(101.0)


def test_message_format() -> None:
    assert timeout_message("a", 30.0) == "a not reached within 30 s"
    assert timeout_message("a", 0.25, "b") == "a not reached within 0.25 s (last: b)"
    assert timeout_message("a", 1.5000000000000002, "") == "a not reached within 1.5 s"
    assert timeout_message("a", 3, "one\ntwo") == "a not reached within 3 s (last:\none\ntwo)"
