"""The serial console driver: pyserial for ``/dev/tty…``, ``socket://host:port`` (ser2net raw, and the
simulated board) and ``rfc2217://host:port``.

``SerialConsole`` keeps the whole byte log of the line from ``open()`` on (a reader thread; optionally teed to
a file) and answers ``expect(patterns, timeout)``: regexes (bytes, MULTILINE) searched from the end of the
previous match (or ``since``). While waiting, *death strings* (regexes too) fail fast with ``ConsoleDeath``;
the defaults are the ones that are never part of a good boot; ``FIRMWARE_NOT_FOUND`` is not among them since
a Pi 4 prints it on every network attempt that fails before it moves on to SD, so a caller adds it where a
netboot must succeed. A line that closes is reopened for ``reconnect_s`` (ser2net restarts, USB re-enumeration)
before ``ConsoleGone``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import serial

from harness.drivers.base import Console, ConsoleDeath, ConsoleGone, ConsoleMatch, ConsoleTimeout
from harness.wait import Deadline

KERNEL_PANIC = r"Kernel panic - not syncing[^\r\n]*"
NO_ROOT_FS = r"Unable to mount root fs[^\r\n]*"
FIRMWARE_NOT_FOUND = r"Firmware not found"
DEFAULT_DEATH_STRINGS: tuple[str, ...] = (KERNEL_PANIC, NO_ROOT_FS)
TAIL_LINES = 30

log = logging.getLogger(__name__)


def _compile(patterns: str | Sequence[str]) -> list[re.Pattern[bytes]]:
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    return [re.compile(p.encode(), re.MULTILINE) for p in items]


class SerialConsole(Console):
    def __init__(self, url: str, *, log_path: Path | None = None,
                 death_strings: Sequence[str] = DEFAULT_DEATH_STRINGS, reconnect_s: float = 5.0,
                 baudrate: int = 115200) -> None:
        self.url = url
        self.log_path = log_path
        self.death_strings = tuple(death_strings)
        self.reconnect_s = reconnect_s
        self.baudrate = baudrate
        self._buf = bytearray()
        self._cond = threading.Condition()
        self._port: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._gone: str | None = None
        self._pos = 0
        self._file: IO[bytes] | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------
    def _connect(self) -> Any:
        try:
            return serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.2)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ConsoleGone(f"cannot open the console {self.url}: {exc}") from None

    def open(self) -> None:
        if self._thread is not None:
            return
        self._port = self._connect()
        log.info("console connected: %s", self.url)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.log_path.open("ab")
        self._stop.clear()
        self._thread = threading.Thread(target=self._reader, name=f"console {self.url}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            log.info("console closed: %s", self.url)
            self._thread.join(timeout=5)
            self._thread = None
        if self._port is not None:
            try:
                self._port.close()
            except (serial.SerialException, OSError):
                pass
            self._port = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> SerialConsole:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _append(self, data: bytes) -> None:
        with self._cond:
            self._buf += data
            if self._file is not None:
                self._file.write(data)
                self._file.flush()
            self._cond.notify_all()

    def _reader(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._port.read(65536)
                if data:
                    self._append(bytes(data))
                    continue
                # a socket:// port returns b"" on timeout and raises once the peer is gone
            except (serial.SerialException, OSError) as exc:
                if not self._reconnect(str(exc)):
                    return

    def _reconnect(self, why: str) -> bool:
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass
        log.info("console %s closed (%s): reconnecting for up to %g s", self.url, why, self.reconnect_s)
        deadline = Deadline(self.reconnect_s)
        last = ""
        while not self._stop.is_set():
            try:
                self._port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.2)
                log.info("console reconnected: %s after %.1f s", self.url, deadline.elapsed)
                return True
            except (serial.SerialException, OSError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if deadline.expired:
                break
            deadline.sleep(0.2)
        with self._cond:
            self._gone = deadline.message(f"the console {self.url}, closed ({why}), open again", last)
            self._cond.notify_all()
        log.warning("console gone: %s", self._gone)
        return False

    # -- reading ----------------------------------------------------------------------------------------------
    def mark(self) -> int:
        with self._cond:
            self._pos = len(self._buf)
            return self._pos

    def slice(self, start: int, end: int | None = None) -> bytes:
        with self._cond:
            return bytes(self._buf[start:end])

    def sliced_log(self, start: int) -> str:
        return self.slice(start).decode("utf-8", "replace")

    def log(self) -> bytes:
        with self._cond:
            return bytes(self._buf)

    def _tail(self, start: int) -> str:
        lines = self.sliced_log(start).splitlines()[-TAIL_LINES:]
        return "\n".join("    " + line for line in lines) or "(nothing)"

    def expect(self, patterns: str | Sequence[str], timeout: float, *, since: int | None = None,
               deaths: Sequence[str] | None = None) -> ConsoleMatch:
        wanted = _compile(patterns)
        dying = _compile(list(self.death_strings if deaths is None else deaths))
        deadline = Deadline(timeout)
        with self._cond:
            start = self._pos if since is None else since
            while True:
                view = bytes(self._buf[start:])
                first: tuple[int, re.Match[bytes]] | None = None
                for rx in wanted:
                    m = rx.search(view)
                    if m and (first is None or m.start() < first[0]):
                        first = (m.start(), m)
                for rx in dying:
                    d = rx.search(view)
                    if d and (first is None or d.start() < first[0]):
                        line = d.group(0).decode("utf-8", "replace").strip()
                        self._pos = start + d.end()
                        raise ConsoleDeath(f"{line!r} on {self.url}\n{self._tail(start)}")
                if first is not None:
                    m = first[1]
                    self._pos = start + m.end()
                    return ConsoleMatch(m.re.pattern.decode(), m, self._pos, view[: m.start()])
                if self._gone is not None:
                    raise ConsoleGone(self._gone)
                if deadline.expired:
                    shown = [p.pattern.decode() for p in wanted]
                    raise ConsoleTimeout(deadline.message(f"any of {shown} on {self.url}", self._tail(start)))
                self._cond.wait(min(deadline.remaining, 0.5))

    def send(self, data: bytes) -> None:
        if self._port is None:
            raise ConsoleGone(f"the console {self.url} is not open")
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise ConsoleGone(f"writing to {self.url}: {exc}") from None
