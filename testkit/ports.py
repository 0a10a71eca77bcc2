"""Loopback helpers shared by tests and benchmarks that start local servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nothing is bound to right now (TCP by default; ``socket.SOCK_DGRAM`` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, host: str = "127.0.0.1", timeout: float = 10.0,
                   dead: Callable[[], str | None] | None = None) -> None:
    """Wait until something accepts TCP connections on ``host:port``. AssertionError after ``timeout`` seconds, or
    at once when ``dead`` returns a reason (the server's process has exited: its error output, say)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            reason = dead() if dead is not None else None
            assert reason is None, reason
            assert time.monotonic() < deadline, f"nothing listened on {host}:{port} within {timeout} s"
            time.sleep(0.05)
