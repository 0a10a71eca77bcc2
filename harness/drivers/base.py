"""What every driver promises: the protocols the strategy and the fixtures program against, and the two
kinds of failure.

A driver acts on one resource of a board or of the lab (its console, its power, its SSH, the lab's Kea,
backend, TFTP server, a DHCP capture point). Each protocol has a real implementation for a rack and a sim
twin for the docker lab; ``harness.drivers.factory`` picks one from lab.yaml.

Failures are classified where they are detected:

- ``InfraFailure``: the lab itself is broken (no DHCP reply, TFTP stalled, power API down, serial gone).
  The board that hit it is quarantined for the rest of the run; it says nothing about the product.
- ``ProductFailure``: the lab worked and the product did the wrong thing (wrong options, bad install,
  wrong boot mode, a death string on the console).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

FailureKind = Literal["infrastructure", "product"]


class HarnessFailure(AssertionError):
    """A classified failure of a boot or a scenario step. An AssertionError so pytest reports it as a failure."""

    kind: FailureKind = "product"

    def __init__(self, message: str, *, stage: str | None = None, board: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.board = board

    def __str__(self) -> str:
        where = "/".join(x for x in (self.board, self.stage) if x)
        return f"[{self.kind}{' ' + where if where else ''}] {self.message}"


class InfraFailure(HarnessFailure):
    kind: FailureKind = "infrastructure"


class ProductFailure(HarnessFailure):
    kind: FailureKind = "product"


# -- console ----------------------------------------------------------------------------------------------------
class ConsoleTimeout(InfraFailure):
    """``expect`` saw none of the patterns in time (classified by the caller when it knows better)."""


class ConsoleGone(InfraFailure):
    """The serial line / ser2net socket closed or cannot be opened."""


class ConsoleDeath(ProductFailure):
    """A death string (kernel panic, ``Firmware not found``, ...) appeared while waiting."""


@dataclass(frozen=True)
class ConsoleMatch:
    pattern: str
    match: re.Match[bytes]
    offset: int  # offset of the match end in the console's whole log
    before: bytes  # what arrived between the search start and the match


@runtime_checkable
class Console(Protocol):
    """A board's serial console: a growing byte log with expectations on it."""

    url: str

    def open(self) -> None: ...
    def close(self) -> None: ...
    def expect(self, patterns: str | Sequence[str], timeout: float, *, since: int | None = None) -> ConsoleMatch:
        """Wait until one of the regexes (bytes-compiled, MULTILINE) matches the log after ``since`` (default:
        the end of the previous match). Raises ConsoleDeath on a death string, ConsoleTimeout, ConsoleGone."""
        ...

    def mark(self) -> int:
        """Current end of the log (a position for ``since`` and ``slice``)."""
        ...

    def slice(self, start: int, end: int | None = None) -> bytes: ...
    def log(self) -> bytes: ...
    def send(self, data: bytes) -> None: ...


# -- power ------------------------------------------------------------------------------------------------------
class PowerError(InfraFailure):
    """The power API / PDU / PoE switch did not do what was asked."""


@runtime_checkable
class Power(Protocol):
    def on(self) -> None: ...
    def off(self) -> None: ...
    def cycle(self) -> None: ...
    def state(self) -> str:
        """'on', 'off' or 'unknown' (a relay with no read-back)."""
        ...


# -- ssh --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class SshError(InfraFailure):
    """Cannot connect / authenticate within the timeout."""


@runtime_checkable
class Ssh(Protocol):
    def run(self, command: str, timeout: float = 30.0) -> CommandResult: ...
    def read_file(self, path: str) -> bytes: ...
    def close(self) -> None: ...


# -- DHCP trace -------------------------------------------------------------------------------------------------
@dataclass
class DhcpPacket:
    time: float
    xid: int
    op: int  # 1 request, 2 reply
    msg_type: str  # DISCOVER, OFFER, REQUEST, ACK, NAK, ...
    chaddr: str
    src: str
    dst: str
    giaddr: str
    yiaddr: str
    siaddr: str
    options: dict[int, bytes] = field(default_factory=dict)
    option82: dict[int, bytes] = field(default_factory=dict)

    def option_text(self, code: int) -> str | None:
        raw = self.options.get(code)
        return None if raw is None else raw.decode("latin-1").rstrip("\x00")


@dataclass
class DhcpExchange:
    """The packets of one transaction id, in time order."""

    xid: int
    chaddr: str
    packets: list[DhcpPacket] = field(default_factory=list)

    def of_type(self, msg_type: str) -> list[DhcpPacket]:
        return [p for p in self.packets if p.msg_type == msg_type]


@runtime_checkable
class DhcpTrace(Protocol):
    """A capture of DHCP traffic at one point of the lab (a bridge, a rack interface)."""

    pcap_path: Path

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def packets(self) -> list[DhcpPacket]: ...
    def exchanges(self, chaddr: str | None = None) -> list[DhcpExchange]: ...
    def table(self, chaddr: str | None = None) -> str:
        """A plain-text table: time, xid, type, chaddr, giaddr, yiaddr, 66, 224, 82 (1/2/9), 97."""
        ...


# -- TFTP -------------------------------------------------------------------------------------------------------
@runtime_checkable
class Tftp(Protocol):
    def stage(self, serial: str, files: dict[str, bytes]) -> Path:
        """Atomically replace ``<root>/<serial>/`` with exactly ``files``."""
        ...

    def served(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The server's transfer log entries (``rrq``/``complete``/``error``) at or after ``since``."""
        ...


# -- Kea --------------------------------------------------------------------------------------------------------
@runtime_checkable
class Kea(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def reload(self, config: dict[str, Any] | None = None) -> None: ...
    def log(self) -> str: ...
    def command(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]: ...


# -- backend ----------------------------------------------------------------------------------------------------
class BackendError(InfraFailure):
    """The backend is unreachable or refused an admin call."""


@runtime_checkable
class Backend(Protocol):
    url: str

    def health(self) -> bool: ...
    def machine(self, name: str) -> dict[str, Any]: ...
    def import_machines(self, machines: list[dict[str, Any]]) -> dict[str, Any]: ...
    def put_machine(self, machine: dict[str, Any]) -> dict[str, Any]: ...
    def reinstall(self, name: str) -> dict[str, Any]: ...
    def set_local(self, name: str) -> dict[str, Any]: ...
    def history(self, name: str) -> dict[str, Any]: ...
    def set_boot_local_method(self, name: str, method: str | None) -> dict[str, Any]: ...

