"""Loop guard: counts option asks of machines in ``local`` (in memory, per process: the hot path writes
nothing).

A machine whose bootloader keeps asking — more than ``limit`` asks within ``window`` seconds since it went to
``local`` — has a card that does not boot; the caller flags it.
"""

from __future__ import annotations

import threading
from collections import deque


class LoopGuard:
    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._asks: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def ask(self, machine_id: int, now: float, since: float) -> bool:
        """Record one ask; True when the machine has now asked more than ``limit`` times in the window
        (counting only asks after ``since``, the moment it went to local)."""
        start = max(now - self.window_s, since)
        with self._lock:
            asks = self._asks.get(machine_id)
            if asks is None:
                asks = self._asks[machine_id] = deque(maxlen=self.limit + 1)
            asks.append(now)
            while asks and asks[0] < start:
                asks.popleft()
            return len(asks) > self.limit

    def forget(self, machine_id: int) -> None:
        with self._lock:
            self._asks.pop(machine_id, None)
