"""What every driver promises: the protocols the strategy and the fixtures program against, and the two
kinds of failure.

A driver acts on one resource of a board or of the lab (its console, its power, its SSH, the lab's Kea,
backend, TFTP server, a DHCP capture point). The session, the targets, the boot strategy, the fixtures and the
scenarios program against these protocols only; each driver (a real one for a rack, its sim twin for the docker
lab) names the protocol it implements as a base class (``class SnmpPower(Power)``), so mypy checks that it
implements every member with a compatible signature, and the session picks one from lab.yaml.

Failures are classified where they are detected:

- ``InfraFailure``: the lab itself is broken (no DHCP reply, TFTP stalled, power API down, serial gone).
  The board that hit it is quarantined for the rest of the run; it says nothing about the product.
- ``ProductFailure``: the lab worked and the product did the wrong thing (wrong options, bad install,
  wrong boot mode, a death string on the console).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self, runtime_checkable

FailureKind = Literal["infrastructure", "product"]


class HarnessFailure(AssertionError):
    """A classified failure of a boot or a scenario step. An AssertionError so pytest reports it as a failure."""

    kind: FailureKind = "product"

    def __init__(self, message: str, *, stage: str | None = None, board: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.board = board
        self.evidence: dict[str, str] = {}  # name -> text: what the report attaches (rack diagnosis)

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
    def expect(self, patterns: str | Sequence[str], timeout: float, *, since: int | None = None,
               deaths: Sequence[str] | None = None) -> ConsoleMatch:
        """Wait until one of the regexes (bytes-compiled, MULTILINE) matches the log after ``since`` (default:
        the end of the previous match). Raises ConsoleDeath on a death string (``deaths``: this call's instead
        of the console's defaults; ``()`` none), ConsoleTimeout, ConsoleGone."""
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


class CommandFailed(ProductFailure):
    """A command run over SSH exited non-zero (``Ssh.run_checked``): the board answered, so it is the installed
    system's fault. Carries the whole ``result`` (exit status, stdout, stderr)."""

    def __init__(self, result: CommandResult, *, host: str) -> None:
        detail = (result.stderr.strip() or result.stdout.strip())[-500:]
        super().__init__(f"ssh {host}: {result.command!r} exited {result.exit_status}: {detail}")
        self.result = result

    @property
    def exit_status(self) -> int:
        return self.result.exit_status

    @property
    def stdout(self) -> str:
        return self.result.stdout

    @property
    def stderr(self) -> str:
        return self.result.stderr


@runtime_checkable
class Ssh(Protocol):
    """A session on a board's installed system; a context manager that closes it."""

    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        """Run ``command``; its exit status is the caller's to judge."""
        ...

    def run_checked(self, command: str, timeout: float = 30.0) -> str:
        """Run ``command``; its stdout, or ``CommandFailed`` (with exit status, stdout and stderr) on a non-zero
        exit."""
        ...

    def read_file(self, path: str) -> bytes: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


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

    def html_table(self, chaddr: str | None = None) -> str:
        """The same table as HTML (for the report)."""
        ...


# -- TFTP -------------------------------------------------------------------------------------------------------
@runtime_checkable
class Tftp(Protocol):
    root: Path  # the server's root as this host sees it

    def stage(self, serial: str, files: dict[str, bytes]) -> Path:
        """Atomically replace ``<root>/<serial>/`` with exactly ``files``."""
        ...

    def unstage(self, serial: str) -> None: ...

    @property
    def logged(self) -> bool:
        """Whether the server keeps a transfer log (``served`` is then meaningful; else use ``verify``)."""
        ...

    def served(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The server's transfer log entries (``rrq``/``complete``/``error``) at or after ``since``."""
        ...

    def verify(self, server: str, serial: str, files: dict[str, bytes], *, port: int = 69,
               timeout: float = 5.0) -> list[str]:
        """Read each file of the board's tree back over TFTP; what differs (empty: all served right)."""
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
    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Until ``health()``; ``BackendError`` after ``timeout``."""
        ...

    def machines(self) -> list[dict[str, Any]]: ...
    def machine(self, name: str) -> dict[str, Any]: ...
    def import_machines(self, machines: list[dict[str, Any]]) -> dict[str, Any]: ...
    def put_machine(self, machine: dict[str, Any]) -> dict[str, Any]: ...
    def reinstall(self, name: str) -> dict[str, Any]: ...
    def set_local(self, name: str) -> dict[str, Any]: ...
    def history(self, name: str, limit: int = 200) -> dict[str, Any]: ...
    def set_boot_local_method(self, name: str, method: str | None) -> dict[str, Any]: ...
    def wait_state(self, name: str, states: Iterable[str], timeout: float = 30.0) -> dict[str, Any]:
        """Until the machine's last install attempt is in one of ``states``: the machine then. The backend
        answering all along with another state is a ``ProductFailure``."""
        ...

    def close(self) -> None: ...

