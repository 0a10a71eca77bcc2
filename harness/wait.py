"""One way to wait: a ``Deadline`` on a clock that tests can fake, and ``wait_until``, which polls a probe until
it answers or the deadline has passed.

One comparison rule: a deadline of ``t`` seconds has passed once ``elapsed >= t`` (``Deadline.expired``).
``wait_until`` tries the probe before it looks at the deadline and cuts its last sleep to what is left, so a
probe is tried at least once, and once more at the deadline itself.

One message: a wait that times out says ``<what> not reached within <t> s (last: <detail>)``
(``timeout_message``), ``detail`` being what the probe raised on its last try, or what the caller's
``describe`` says. ``wait_until`` raises the caller's failure class (``error=``): an infrastructure wait stays
an ``InfraFailure``, a product wait a ``ProductFailure``.

A leaf module: it imports nothing of the project, so every layer may use it (the sim inside its containers too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """What a wait needs of time: a monotonic reading and a sleep (a fake one advances only when slept on)."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()


class WaitTimeout(TimeoutError):
    """What ``wait_until`` raises when the caller names no failure class of its own."""


def _seconds(t: float) -> str:
    return f"{t:g}"


def timeout_message(what: str, timeout: float, last: object = None) -> str:
    """``<what> not reached within <t> s (last: <detail>)``; without a detail, no parenthesis; a detail of
    several lines (a console's tail) starts on a line of its own."""
    head = f"{what} not reached within {_seconds(timeout)} s"
    if last is None or last == "":
        return head
    text = str(last)
    return f"{head} (last:\n{text})" if "\n" in text else f"{head} (last: {text})"


class Deadline:
    """``timeout`` seconds from now on ``clock``."""

    def __init__(self, timeout: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.timeout = timeout
        self.clock = clock
        self.start = clock.monotonic()
        self.end = self.start + timeout

    @property
    def elapsed(self) -> float:
        return self.clock.monotonic() - self.start

    @property
    def remaining(self) -> float:
        """Seconds left, never below 0."""
        return max(0.0, self.end - self.clock.monotonic())

    @property
    def expired(self) -> bool:
        return self.clock.monotonic() >= self.end

    def sleep(self, interval: float) -> None:
        """Sleep ``interval`` seconds, or only what is left of the deadline."""
        self.clock.sleep(min(interval, self.remaining))

    def message(self, what: str, last: object = None) -> str:
        return timeout_message(what, self.timeout, last)


def wait_until(what: str, probe: Callable[[], T | None], *, timeout: float | Deadline, interval: float = 0.2,
               retry_on: tuple[type[Exception], ...] = (), describe: Callable[[], object] | None = None,
               error: Callable[[str], BaseException] = WaitTimeout, clock: Clock = SYSTEM_CLOCK) -> T:
    """Call ``probe`` every ``interval`` seconds until it answers something other than None or False, and
    return that answer. An exception of ``retry_on`` counts as "not yet" (and becomes the detail); any other
    propagates at once. When the deadline has passed: ``error(message)`` with ``timeout_message``'s wording,
    the detail being ``describe()`` when given, else the exception of the probe's last try. ``timeout`` may be
    a ``Deadline`` the caller also reads (e.g. to bound each try by what is left)."""
    deadline = timeout if isinstance(timeout, Deadline) else Deadline(timeout, clock=clock)
    last: object = None
    while True:
        try:
            answer = probe()
        except retry_on as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if answer is not None and answer is not False:
                return answer
            last = None  # "not yet" says nothing more; ``describe`` can
        if deadline.expired:
            raise error(deadline.message(what, describe() if describe is not None else last))
        deadline.sleep(interval)
