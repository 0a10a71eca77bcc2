"""One power-on as a fork of the controller, not a new interpreter (issue 18.5: 64 boards on 2 cores).

Spawning ``python -m harness.sim.board.firmware`` costs each power-on an interpreter start and the imports of
the bootloader, pydantic and the board config: about 0.2 s of CPU per boot, paid by every board at the same
moment when a rack of them is switched on together. The controller imports the firmware module once, when the
container starts (before any power-on), and each power-on forks: the child starts at once with everything
imported and shares the controller's pages until it writes them (less memory per board too).

The child is what the spawned process was: a new session (``setsid``: ``power off`` kills the session and its
descendants), the UART pipe as stdout and stderr, the console input pipe as stdin, default signal handlers,
no descriptor of the controller's (its listening sockets, its log) and a fresh random state (the DHCP xid is
random per boot). Then ``firmware.main`` runs and replaces itself as before (installer, installed OS).

The controller watches the child through a pidfd (``returncode``, ``wait``) and reaps it; ``ForkedBoot`` has
the parts of ``asyncio.subprocess.Process`` the controller uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import signal
import sys
from collections.abc import Callable

# the signals the controller's event loop and uvicorn handle; the child runs with the defaults
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGPIPE)


class ForkedBoot:
    """A forked power-on: ``pid``, ``stdin`` (console input), ``stdout`` (the UART), ``returncode``."""

    def __init__(self, pid: int, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None
        self._exited = asyncio.Event()
        self._pidfd = os.pidfd_open(pid)
        asyncio.get_running_loop().add_reader(self._pidfd, self._reap)

    def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        try:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            self.returncode = -1
        self.stdin.close()
        self._exited.set()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode


def _child(stdin_r: int, uart_w: int, run: Callable[[], int]) -> None:
    """In the forked child: become the board's new session and run; never returns."""
    code = 70
    try:
        os.setsid()
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.dup2(stdin_r, 0)
        os.dup2(uart_w, 1)
        os.dup2(uart_w, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        # unbuffered as a spawned ``python -u`` would be: the UART must not wait in a buffer
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)))
        os.environ["PYTHONUNBUFFERED"] = "1"  # for what it execs (the installed OS)
        random.seed()
        code = run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # the child must never return into the controller's loop
        with contextlib.suppress(Exception):
            os.write(2, f"sim firmware: {type(exc).__name__}: {exc}\n".encode())
    finally:
        os._exit(code)


async def fork_boot(run: Callable[[], int]) -> ForkedBoot:
    """Fork a power-on that runs ``run()`` (e.g. ``firmware.main([...])``) in the child."""
    stdin_r, stdin_w = os.pipe()
    uart_r, uart_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(stdin_w)
        os.close(uart_r)
        _child(stdin_r, uart_w, run)
    os.close(stdin_r)
    os.close(uart_w)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(uart_r, "rb", 0))
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                        os.fdopen(stdin_w, "wb", 0))
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return ForkedBoot(pid, writer, reader)
