"""A real serial device path for a simulated board: a pseudo-terminal whose other side is the board's UART.

``PtyBridge(link, uart_host, uart_port)`` runs ``socat`` with a PTY (raw, no echo) linked at ``link`` — a path the
lab file names as a board's ``console.url``, opened by pyserial exactly as ``/dev/ttyUSB0`` — and a TCP
connection to the board's console (the simulated board's UART stream). When the last opener of the pty closes
it, socat sees the line hang up and ends (as a USB adapter's line does when unplugged): the bridge starts a
fresh one at once, so the path opens again. Every socat the bridge started is ended by its PID at ``stop()``;
the link goes with it.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)


class PtyBridge:
    def __init__(self, link: Path, uart_host: str, uart_port: int) -> None:
        self.link = link
        self.uart = (uart_host, uart_port)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.silent = False  # a UART whose TX wire is cut: the pty opens, nothing ever arrives (a fault)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name=f"pty {link}", daemon=True)

    def command(self) -> list[str]:
        far = "SYSTEM:sleep 86400" if self.silent else f"TCP:{self.uart[0]}:{self.uart[1]},nodelay"
        return ["socat", f"PTY,link={self.link},raw,echo=0,mode=600", far]

    def set_silent(self, silent: bool, timeout: float = 10.0) -> None:
        """Cut (or mend) the line: the running socat is replaced by one with the other far side."""
        with self._lock:
            self.silent = silent
            before, proc = self.starts, self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        deadline = time.monotonic() + timeout
        while self.starts == before or not self.link.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"socat did not come back on {self.link} within {timeout} s")
            time.sleep(0.05)

    def start(self, timeout: float = 10.0) -> PtyBridge:
        self.link.parent.mkdir(parents=True, exist_ok=True)
        if self.link.is_symlink() and not self.link.exists():
            self.link.unlink()  # a dangling link of a socat that was killed: its pty is gone
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.link.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"socat did not create {self.link} within {timeout} s")
            time.sleep(0.05)
        return self

    def _supervise(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
                self.starts += 1
            self.proc.wait()
            if not self._stop.is_set():
                time.sleep(0.1)  # the board's console server may be restarting: do not spin

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # by its PID: only the socat this bridge started
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._thread.join(timeout=5)
        self.link.unlink(missing_ok=True)
