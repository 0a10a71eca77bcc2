"""The emulated rack as a whole: the hardware (``RackHardware``) and, on this host, what a real rack's harness
host has at hand — serial devices (a pty per board, ``PtyBridge``), a console server's RFC 2217 ports
(``Rfc2217Port``), the PoE switch's SNMP agent (``PoeAgent``) — all wired from the lab file's own board
sections, so that the harness reaches the boards only through them.

``EmulatedRack(lab)`` is a context manager; at its end every socat it started (by PID), every listener, the
containers, the networks and the links are gone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from harness.emurack.hardware import RackHardware
from harness.emurack.ptybridge import PtyBridge
from harness.emurack.rfc2217 import Rfc2217Port
from harness.emurack.snmpagent import PoeAgent
from harness.lab import boardspec
from harness.lab.docker_lab import LabError, Printer, _say
from harness.lab.model import Board, Lab

log = logging.getLogger(__name__)


class EmulatedRack:
    def __init__(self, lab: Lab, *, say: Printer = _say) -> None:
        if lab.lab.kind != "rack":
            raise LabError(f"{lab.source}: an emulated rack is a kind: rack lab file")
        self.lab = lab
        self.say = say
        self.hardware = RackHardware(lab, say=say)
        self.ptys: dict[str, PtyBridge] = {}
        self.rfc2217: dict[str, Rfc2217Port] = {}
        self.agents: dict[tuple[str, int], PoeAgent] = {}

    def _uart(self, board: Board) -> tuple[str, int]:
        return str(boardspec.mgmt_address(self.hardware.lab, board)), boardspec.CONSOLE_PORT

    def _power_url(self, board: Board) -> str:
        return boardspec.power_url(self.hardware.lab, board)

    def __enter__(self) -> EmulatedRack:
        self.hardware.__enter__()
        try:
            for board in self.lab.boards:
                self._console(board)
                self._power(board)
            for agent in self.agents.values():
                agent.start()
        except BaseException:
            self.close()
            raise
        self.say(f"emulated rack {self.lab.lab.name}: {len(self.lab.boards)} boards, "
                 f"{len(self.ptys)} ptys, {len(self.rfc2217)} RFC 2217 ports, {len(self.agents)} SNMP agents")
        return self

    def _console(self, board: Board) -> None:
        url = board.console.url
        host, port = self._uart(board)
        if url.startswith("/"):
            self.ptys[board.name] = PtyBridge(Path(url), host, port).start()
        elif url.startswith("rfc2217://"):
            where = urlsplit(url)
            self.rfc2217[board.name] = Rfc2217Port(f"socket://{host}:{port}", host=where.hostname or "127.0.0.1",
                                                   port=where.port or 0).start()
        elif not url.startswith("socket://"):
            raise LabError(f"board {board.name}: the emulated rack cannot serve console {url!r}")

    def _power(self, board: Board) -> None:
        cfg = board.power
        if cfg.driver != "snmp":
            return  # command power: the lab file's commands reach the board's power API themselves
        assert cfg.host is not None and cfg.port_index is not None  # the model checks it
        key = (cfg.host, cfg.snmp_port)
        agent = self.agents.get(key)
        if agent is None:
            agent = PoeAgent({}, community=cfg.community, host=cfg.host, port=cfg.snmp_port)
            self.agents[key] = agent
        agent.ports[(cfg.group, cfg.port_index)] = self._power_url(board)

    def close(self) -> None:
        closers: list[PtyBridge | Rfc2217Port | PoeAgent] = [*self.ptys.values(), *self.rfc2217.values(),
                                                              *self.agents.values()]
        for closer in closers:
            try:
                closer.stop()
            except Exception as exc:  # stop the others
                log.warning("emulated rack: stopping %s: %s", closer, exc)
        self.hardware.down()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
