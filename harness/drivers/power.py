"""Power drivers: the simulated board's power API, a PoE switch port over SNMP, or shell commands (relays,
PDUs). ``power_for(board, sim_url=...)`` picks one from the board's ``power:`` section of lab.yaml.

- ``SimPower(url)``: ``GET /power``, ``POST /power/on|off|cycle`` of the board controller (``off`` is a hard
  cut; ``cycle`` is the controller's own).
- ``SnmpPower(host, port_index, community, group, port, off_time)``: POWER-ETHERNET-MIB ``pethPsePortAdminEnable``
  (1.3.6.1.2.1.105.1.1.1.3.<group>.<port>; 1 = true = powered, 2 = false), SNMP v2c SET / GET.
- ``CommandPower(on, off, state=None, off_time)``: shell commands with a timeout; ``state()`` runs ``state``
  (exit 0 = on, 1 = off) or says ``unknown``.
``off_time`` (lab.yaml ``power.off_time``) is how long ``cycle()`` keeps the board off.
Every failure is a ``PowerError`` (an infrastructure failure) naming what was asked of whom.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from typing import Any

import httpx

from harness.drivers.base import Power, PowerError
from harness.lab.model import Board

PETH_ADMIN_ENABLE = "1.3.6.1.2.1.105.1.1.1.3"

log = logging.getLogger(__name__)


class SimPower(Power):
    def __init__(self, url: str, timeout_s: float = 20.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str) -> dict[str, Any]:
        try:
            resp = httpx.request(method, f"{self.url}{path}", timeout=self.timeout_s)
            resp.raise_for_status()
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PowerError(f"power API {method} {self.url}{path}: {exc}") from None
        if not isinstance(body, dict):
            raise PowerError(f"power API {self.url}{path}: not a JSON object: {body!r}")
        return body

    def on(self) -> None:
        log.info("power on: %s", self.url)
        self._call("POST", "/power/on")

    def off(self) -> None:
        log.info("power off: %s", self.url)
        self._call("POST", "/power/off")

    def cycle(self) -> None:
        log.info("power cycle: %s", self.url)
        self._call("POST", "/power/cycle")

    def state(self) -> str:
        return str(self._call("GET", "/power").get("state", "unknown"))


class SnmpPower(Power):
    def __init__(self, host: str, port_index: int, *, community: str = "private", group: int = 1,
                 port: int = 161, off_time: float = 2.0, timeout_s: float = 3.0) -> None:
        self.host, self.port, self.community = host, port, community
        self.oid = f"{PETH_ADMIN_ENABLE}.{group}.{port_index}"
        self.off_time = off_time
        self.timeout_s = timeout_s

    async def _request(self, value: int | None) -> int:
        from pysnmp.hlapi.v3arch.asyncio import (
            CommunityData,
            ContextData,
            ObjectIdentity,
            ObjectType,
            SnmpEngine,
            UdpTransportTarget,
            get_cmd,
            set_cmd,
        )
        from pysnmp.proto.rfc1902 import Integer

        engine = SnmpEngine()
        try:
            target = await UdpTransportTarget.create((self.host, self.port), timeout=self.timeout_s, retries=1)
            if value is None:
                obj = ObjectType(ObjectIdentity(self.oid))
                err, status, _, binds = await get_cmd(engine, CommunityData(self.community, mpModel=1), target,
                                                      ContextData(), obj)
            else:
                obj = ObjectType(ObjectIdentity(self.oid), Integer(value))
                err, status, _, binds = await set_cmd(engine, CommunityData(self.community, mpModel=1), target,
                                                      ContextData(), obj)
        finally:
            engine.close_dispatcher()
        if err:
            raise PowerError(f"SNMP {self.host}:{self.port} {self.oid}: {err}")
        if status:
            raise PowerError(f"SNMP {self.host}:{self.port} {self.oid}: {status.prettyPrint()}")
        return int(binds[0][1])

    def _run(self, value: int | None) -> int:
        try:
            return asyncio.run(self._request(value))
        except PowerError:
            raise
        except Exception as exc:  # pysnmp raises many unrelated types
            raise PowerError(f"SNMP {self.host}:{self.port} {self.oid}: {type(exc).__name__}: {exc}") from None

    def on(self) -> None:
        log.info("power on: SNMP %s:%s %s", self.host, self.port, self.oid)
        self._run(1)

    def off(self) -> None:
        log.info("power off: SNMP %s:%s %s", self.host, self.port, self.oid)
        self._run(2)

    def cycle(self) -> None:
        self.off()
        time.sleep(self.off_time)
        self.on()

    def state(self) -> str:
        return {1: "on", 2: "off"}.get(self._run(None), "unknown")


class CommandPower(Power):
    def __init__(self, on: str, off: str, state: str | None = None, *, off_time: float = 1.0,
                 timeout_s: float = 30.0) -> None:
        self.on_cmd, self.off_cmd, self.state_cmd = on, off, state
        self.off_time = off_time
        self.timeout_s = timeout_s

    def _sh(self, command: str) -> int:
        try:
            proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise PowerError(f"power command timed out after {self.timeout_s:.0f} s: {command}") from None
        return proc.returncode if proc.returncode in (0, 1) or not proc.stderr else -abs(proc.returncode)

    def _must(self, command: str) -> None:
        rc = self._sh(command)
        if rc != 0:
            raise PowerError(f"power command failed (exit {abs(rc)}): {command}")

    def on(self) -> None:
        log.info("power on: %s", self.on_cmd)
        self._must(self.on_cmd)

    def off(self) -> None:
        log.info("power off: %s", self.off_cmd)
        self._must(self.off_cmd)

    def cycle(self) -> None:
        self.off()
        time.sleep(self.off_time)
        self.on()

    def state(self) -> str:
        if self.state_cmd is None:
            return "unknown"
        rc = self._sh(self.state_cmd)
        return {0: "on", 1: "off"}.get(rc, "unknown")


def power_for(board: Board, *, sim_url: str | None) -> Power:
    cfg = board.power
    if cfg.driver == "sim":
        if sim_url is None:
            raise PowerError(f"board {board.name}: power driver 'sim' outside the simulated lab")
        return SimPower(sim_url)
    if cfg.driver == "snmp":
        assert cfg.host is not None and cfg.port_index is not None  # the model checks it
        return SnmpPower(cfg.host, cfg.port_index, community=cfg.community, group=cfg.group, port=cfg.snmp_port,
                         off_time=cfg.off_time)
    assert cfg.on is not None and cfg.off is not None
    return CommandPower(cfg.on, cfg.off, cfg.state, off_time=cfg.off_time)
