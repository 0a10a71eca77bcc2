"""harness.sim.board.forkstart: a power-on forked from the controller behaves as the spawned process did: its own
session, the UART pipe as stdout/stderr, console input on stdin, a fresh random state, its exit seen."""

from __future__ import annotations

import asyncio
import os
import random
import sys

from harness.sim.board.forkstart import fork_boot


def _board() -> int:
    print(f"sid={os.getsid(0)} pid={os.getpid()} rand={random.random()}")
    sys.stderr.write("on the uart too\n")
    line = sys.stdin.readline()
    print(f"got {line.strip()}")
    return 3


async def _run() -> tuple[bytes, int, int]:
    random.seed(1)
    boot = await fork_boot(_board)
    boot.stdin.write(b"hello\n")
    await boot.stdin.drain()
    code = await asyncio.wait_for(boot.wait(), 30)
    out = await asyncio.wait_for(boot.stdout.read(), 30)
    return out, code, boot.pid


def test_forked_power_on_is_its_own_session_on_the_uart_pipe() -> None:
    out, code, pid = asyncio.run(_run())
    text = out.decode()
    assert code == 3, text
    assert f"sid={pid} pid={pid}" in text, text  # a new session led by the child: power off kills it whole
    assert "on the uart too" in text and "got hello" in text, text
    random.seed(1)
    assert f"rand={random.random()}" not in text, "the child must not repeat the controller's random state"


async def _crash() -> tuple[int, bytes]:
    def boom() -> int:
        raise RuntimeError("bad board")

    boot = await fork_boot(boom)
    code = await asyncio.wait_for(boot.wait(), 30)
    return code, await asyncio.wait_for(boot.stdout.read(), 30)


def test_a_crashing_child_never_returns_into_the_controller() -> None:
    code, out = asyncio.run(_crash())
    assert code != 0 and b"RuntimeError: bad board" in out, (code, out)
