"""The simulated board's controller: the container's main process (under docker's init).

    python -m harness.sim.board --config /etc/malina/board.json

- **Power** over HTTP on ``power_port`` (7000), ``power_api.py`` (Starlette on uvicorn, in this event loop):
  ``GET /power`` → ``{"state": "on"|"off", "boots": n, ...}``; ``POST /power/on``, ``/power/off``,
  ``/power/cycle`` → the new state. ``off`` is a hard cut: SIGKILL of everything the board runs (the
  firmware's process group, its session and all descendants, snapshotted first so that nothing escapes by
  re-parenting), then the access interface loses its addresses and the volatile directories (RAM) are
  emptied. Whatever was being written to the card stays half-written.
- **Serial console** on ``console_port`` (7001), raw TCP as ser2net gives it (pyserial ``socket://``):
  every connected client receives the UART byte stream from the moment it connects; bytes from any client
  go to the running system's console input. A client that cannot keep up is dropped, never the board.
- The UART stream is also appended to ``uart_log``.

The board starts powered off unless ``power_on_at_start``: the harness connects the console first, then
powers on, and so sees the boot from its first byte.
SIGTERM / SIGINT (``docker stop``) cut the power, then the controller exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from harness.sim.board import config as board_config
from harness.sim.board import firmware
from harness.sim.board import link as board_link
from harness.sim.board.config import BoardConfig
from harness.sim.board.forkstart import ForkedBoot, fork_boot
from harness.sim.board.power_api import api_server

MAX_CLIENT_BACKLOG = 1 << 20


def _ppid_and_sid(pid: int) -> tuple[int, int] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[3])  # ppid, session


def board_processes(root: int) -> list[int]:
    """``root``, every descendant and every process of its session (snapshot)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _ppid_and_sid(int(entry))
            if info is not None:
                table[int(entry)] = info
    own = {os.getpid(), 1}
    found = {root}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, sid) in table.items():
            if pid not in found and pid not in own and (ppid in found or sid == root):
                found.add(pid)
                changed = True
    return sorted(found)


class Board:
    def __init__(self, cfg: BoardConfig, config_path: str) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.proc: ForkedBoot | None = None
        self.clients: set[asyncio.StreamWriter] = set()
        self.boots = 0
        self.since = time.time()
        self.lock = asyncio.Lock()
        self.reader_task: asyncio.Task[None] | None = None
        Path(cfg.uart_log).parent.mkdir(parents=True, exist_ok=True)
        self.log = open(cfg.uart_log, "ab", buffering=0)  # noqa: SIM115 - lives as long as the board

    # -- UART ------------------------------------------------------------------------------------------
    def _broadcast(self, data: bytes) -> None:
        self.log.write(data)
        for w in list(self.clients):
            transport = w.transport
            if transport.is_closing() or transport.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
                self.clients.discard(w)
                transport.abort()
                continue
            w.write(data)

    async def _pump(self, proc: ForkedBoot) -> None:
        assert proc.stdout is not None
        while True:
            data = await proc.stdout.read(4096)
            if not data:
                break
            self._broadcast(data)

    # -- power -----------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return "on" if self.proc is not None and self.proc.returncode is None else "off"

    async def power_on(self) -> None:
        async with self.lock:
            if self.state == "on":
                return
            self._clean_volatile()
            # a fork of this process with the firmware imported, not a new interpreter (forkstart.py)
            self.proc = await fork_boot(partial(firmware.main, ["--config", self.config_path]))
            self.boots += 1
            self.since = time.time()
            self.reader_task = asyncio.create_task(self._pump(self.proc))

    async def power_off(self) -> None:
        async with self.lock:
            proc = self.proc
            if proc is not None:
                victims = board_processes(proc.pid)
                for pid in victims:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), 10)
                if self.reader_task is not None:
                    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                        await asyncio.wait_for(self.reader_task, 2)
                # orphans re-parented to init while we killed (forked in between): one more sweep
                for pid in board_processes(proc.pid):
                    if pid != proc.pid:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(pid, signal.SIGKILL)
            self.proc = None
            self.reader_task = None
            self.since = time.time()
            with contextlib.suppress(board_link.LinkError):
                board_link.flush(self.cfg.iface)
            self._clean_volatile()

    def _clean_volatile(self) -> None:
        for d in self.cfg.volatile_dirs:
            p = Path(d)
            if p.is_dir():
                for child in p.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        with contextlib.suppress(OSError):
                            child.unlink()

    async def power_cycle(self) -> None:
        await self.power_off()
        await asyncio.sleep(0.1)
        await self.power_on()

    def status(self) -> dict[str, Any]:
        return {"board": self.cfg.name, "state": self.state, "boots": self.boots, "since": self.since,
                "pid": self.proc.pid if self.proc is not None and self.state == "on" else None}

    # -- console server --------------------------------------------------------------------------------
    async def console_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.add(writer)
        try:
            while True:
                data = await reader.read(1024)
                if not data:
                    break
                proc = self.proc
                if proc is not None and proc.stdin is not None and proc.returncode is None:
                    with contextlib.suppress(ConnectionError, BrokenPipeError):
                        proc.stdin.write(data)
                        await proc.stdin.drain()
        except ConnectionError:
            pass
        finally:
            self.clients.discard(writer)
            writer.close()


async def serve(cfg: BoardConfig, config_path: str) -> None:
    board = Board(cfg, config_path)
    try:
        board_link.claim_name(cfg.iface, cfg.mgmt_ip)
    except board_link.LinkError as exc:
        print(f"board {cfg.name}: cannot name the access interface {cfg.iface}: {exc}", file=sys.stderr, flush=True)
    try:
        board_link.set_mac(cfg.iface, cfg.mac)
    except board_link.LinkError as exc:
        print(f"board {cfg.name}: cannot set the MAC of {cfg.iface}: {exc}", file=sys.stderr, flush=True)
    with contextlib.suppress(board_link.LinkError):
        board_link.flush(cfg.iface)  # docker gave the access interface an address; a Pi has none
    console = await asyncio.start_server(board.console_client, "0.0.0.0", cfg.console_port)
    api, api_socket = api_server(board, cfg.power_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    api_task = asyncio.create_task(api.serve(sockets=[api_socket]))
    api_task.add_done_callback(lambda _: stop.set())  # the API ended on its own (it failed): so does the board
    print(f"board {cfg.name}: power API :{cfg.power_port}, console :{cfg.console_port}", file=sys.stderr,
          flush=True)
    if cfg.power_on_at_start:
        await board.power_on()
    async with console:
        await stop.wait()
    api.should_exit = True
    await api_task
    await board.power_off()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.sim.board", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=board_config.DEFAULT_PATH)
    args = parser.parse_args(argv)
    try:
        cfg = board_config.load(args.config)
    except board_config.BoardConfigError as exc:
        print(f"board: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(cfg, args.config))
    return 0

