"""The answer to one DHCP ask, decided in one place: ``decide`` is pure (no database, no clock, no I/O).

Both paths of ``GET /v1/dhcp/options`` call it: the read-only path (one indexed read on the event loop) answers
when the decision writes nothing, and hands the ask to the write path otherwise; the write path reads the same
facts inside a transaction, decides again and carries the decision out. A rule added here holds on both.

The loop guard is the one input that is counted, not read: when the machine is in ``local`` and no verdict was
given, ``decide`` returns ``CountAsk``; the caller counts the ask (once) and decides again with the verdict.

Boot-local methods (issue 19): how a board that must boot local is kept from netbooting. ``opt66-zero``: option
66 = ``0.0.0.0`` (the design's toggle; what a bootloader does with it is undocumented); ``tftp-deny``: option 66
names the real TFTP server and the TFTP gate is closed, so the server answers "File not found" and the
bootloader takes its documented path ("if the firmware is not found … continue" with the next boot mode);
``opt66-zero+tftp-deny`` (the default): both. The method is the machine's override, else the lab's
(``MALINA_BOOT_LOCAL_METHOD``). ``gate`` is the TFTP gate's answer, decided here too, from the same facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal, NamedTuple, get_args

from backend import states
from backend.identity import Guid, port_key

NO_TFTP = "0.0.0.0"
LOCAL_ANSWER = {"66": NO_TFTP}

BootLocalMethod = Literal["opt66-zero", "tftp-deny", "opt66-zero+tftp-deny"]
METHODS: tuple[str, ...] = get_args(BootLocalMethod)
DEFAULT_METHOD: BootLocalMethod = "opt66-zero+tftp-deny"


def zeroes_option66(method: str) -> bool:
    """Whether the method answers a board that must boot local with option 66 = 0.0.0.0."""
    return method != "tftp-deny"


def closes_gate(method: str) -> bool:
    """Whether the method closes the TFTP gate of a board that must boot local."""
    return method != "opt66-zero"


@dataclass(frozen=True)
class OptionsQuery:
    """What the hook asks with: the switch port (option 82 sub-options, hex), the chaddr and option 97."""

    sub82_1: str
    sub82_2: str
    sub82_9: str = ""
    mac: str | None = None
    guid: Guid | None = None

    @cached_property  # the read, the decision and the write path all need it
    def port_keys(self) -> list[str]:
        """The exact port, then (with a sub-option 9) the port without it: a machine defined without
        ``sub82_9`` also matches asks that carry one."""
        keys = [port_key(self.sub82_1, self.sub82_2, self.sub82_9)]
        if self.sub82_9:
            keys.append(port_key(self.sub82_1, self.sub82_2, ""))
        return keys

    @cached_property
    def serials(self) -> tuple[str, ...]:
        return self.guid.serial_candidates() if self.guid is not None else ()


class MachineFacts(NamedTuple):
    """One machine the ask may concern (its port, MAC or serial match) with its current attempt."""

    id: int
    name: str
    port_key: str
    mac: str | None
    serial: str | None
    guid_serial: str | None
    boot_mode: str
    flagged: bool
    mode_changed_at: float
    attempts: int
    state: str | None  # of the current attempt; None without one
    token: str | None
    expires_at: float | None
    result_status: str | None
    boot_local_method: str | None = None  # the machine's override; None: the lab's (``Policy``)


@dataclass(frozen=True)
class Policy:
    """The settings the decision depends on."""

    tftp_server: str
    max_attempts: int
    loop_guard_count: int
    loop_guard_window_s: float
    boot_local_method: str = DEFAULT_METHOD  # the lab's; a machine may override it

    def method_of(self, machine: MachineFacts | None) -> str:
        if machine is not None and machine.boot_local_method:
            return machine.boot_local_method
        return self.boot_local_method

    def local_tftp(self, method: str) -> str:
        """Option 66 for a board that must boot local by ``method``."""
        return NO_TFTP if zeroes_option66(method) else self.tftp_server


@dataclass(frozen=True)
class Flag:
    machine_id: int
    reason: str
    cancel_attempt: bool  # end the machine's running attempt too (its token must not be handed out again)


@dataclass(frozen=True)
class Learn:
    """Identity seen for the first time, to be recorded on the port's machine."""

    mac: str | None = None
    guid_serial: str | None = None


NOTHING_NEW = Learn()


@dataclass(frozen=True)
class Install:
    """Options 66 and 224: the machine installs with ``token`` (None: a new attempt and token are made)."""

    machine_id: int
    tftp: str
    token: str | None
    learn: Learn = NOTHING_NEW
    expire: str | None = None  # the running attempt's token expired: end it with this error first


@dataclass(frozen=True)
class BootLocal:
    """The board boots from its card (or, unknown or flagged, is refused): option 66 only, never 224.

    ``tftp`` is option 66 by the boot-local method: ``0.0.0.0``, or under ``tftp-deny`` the real TFTP server,
    whose gate is closed for the board."""

    reason: str
    machine_id: int | None = None  # the port's machine, when the port is known
    learn: Learn = NOTHING_NEW
    flags: tuple[Flag, ...] = ()
    expire: str | None = None  # end the running attempt; at the attempt cap that sends the machine to local
    to_local: bool = False  # the attempt cap is reached: boot mode → local
    forget_asks: bool = False  # the loop guard tripped: its count of the machine starts over
    tftp: str = NO_TFTP


@dataclass(frozen=True)
class CountAsk:
    """The machine is in ``local``: count this ask in the loop guard, then decide again with its verdict."""

    machine_id: int
    since: float


Decision = Install | BootLocal | CountAsk


def writes(decision: Install | BootLocal) -> bool:
    """Whether carrying the decision out changes the database (else the read-only path can answer)."""
    if decision.learn != NOTHING_NEW or decision.expire is not None:
        return True
    if isinstance(decision, Install):
        return decision.token is None
    return bool(decision.flags) or decision.to_local


def answer(decision: Install | BootLocal, base_url: str, token: str | None = None) -> dict[str, str]:
    """The JSON the hook gets; ``token`` is the new attempt's when the decision made one."""
    if isinstance(decision, BootLocal):
        return LOCAL_ANSWER if decision.tftp == NO_TFTP else {"66": decision.tftp}
    return {"66": decision.tftp, "224": f"{base_url}/v1/install/{token or decision.token}"}


def decide(query: OptionsQuery, rows: Sequence[MachineFacts], now: float, policy: Policy,
           loop_guard_tripped: bool | None) -> Decision:
    """What to answer ``query`` given the machines on its port or with its MAC/serial (``rows``): ``_decide``'s
    decision, with option 66 of a boot-local answer set by the boot-local method (the port's machine's, else
    the lab's)."""
    decision = _decide(query, rows, now, policy, loop_guard_tripped)
    if not isinstance(decision, BootLocal):
        return decision
    machine = next((row for row in rows if row.id == decision.machine_id), None)
    tftp = policy.local_tftp(policy.method_of(machine))
    return decision if tftp == decision.tftp else replace(decision, tftp=tftp)


def _decide(query: OptionsQuery, rows: Sequence[MachineFacts], now: float, policy: Policy,
            loop_guard_tripped: bool | None) -> Decision:
    keys = query.port_keys
    by_key = {row.port_key: row for row in rows}
    port = next((by_key[key] for key in keys if key in by_key), None)
    serials = query.serials
    others = [row for row in rows if (port is None or row.id != port.id) and (
        (query.mac is not None and row.mac == query.mac) or (row.serial is not None and row.serial in serials))]
    if port is None:
        reason = f"seen on an unknown switch port ({keys[0]})"
        return BootLocal("unknown switch port", flags=_flags(others, reason))
    if port.flagged:
        return BootLocal(f"{port.name} is flagged", port.id)
    problems = identity_problems(port, query, others)
    if problems:
        flag = Flag(port.id, "; ".join(problems), cancel_attempt=True)
        return BootLocal("identity mismatch", port.id,
                         flags=(flag, *_flags(others, f"seen on the port of {port.name}")))
    learn = _learn(port, query)
    if port.boot_mode == "local":
        return _local(port, learn, policy, loop_guard_tripped)
    return _install(port, learn, now, policy)


def _flags(machines: list[MachineFacts], reason: str) -> tuple[Flag, ...]:
    return tuple(Flag(machine.id, reason, cancel_attempt=False) for machine in machines if not machine.flagged)


def _local(port: MachineFacts, learn: Learn, policy: Policy, loop_guard_tripped: bool | None) -> Decision:
    if loop_guard_tripped is None:
        return CountAsk(port.id, port.mode_changed_at)
    if not loop_guard_tripped:
        return BootLocal("boot mode local", port.id, learn)
    reason = (f"loop guard: more than {policy.loop_guard_count} boot asks within {policy.loop_guard_window_s:g} s "
              "in local mode: its card is not booting")
    return BootLocal("loop guard", port.id, learn, flags=(Flag(port.id, reason, cancel_attempt=True),),
                     forget_asks=True)


def _install(port: MachineFacts, learn: Learn, now: float, policy: Policy) -> Install | BootLocal:
    expire = None
    if port.state in states.INSTALLING and port.result_status is None:
        if port.token is not None and port.expires_at is not None and port.expires_at > now:
            return Install(port.id, policy.tftp_server, port.token, learn)
        expire = f"token expired in state {port.state}"
        if port.attempts >= policy.max_attempts:  # failing this attempt reaches the cap: the machine goes local
            return BootLocal("attempt cap reached", port.id, learn, expire=expire)
    elif port.attempts >= policy.max_attempts:
        flag = Flag(port.id, f"attempt cap {policy.max_attempts} reached", cancel_attempt=False)
        return BootLocal("attempt cap reached", port.id, learn, flags=(flag,), to_local=True)
    return Install(port.id, policy.tftp_server, None, learn, expire)


def _learn(port: MachineFacts, query: OptionsQuery) -> Learn:
    mac = query.mac if query.mac and port.mac is None else None
    guid = query.guid
    raw = guid.serial_raw if guid is not None else None
    guid_serial = raw.hex() if raw is not None and port.serial is None and port.guid_serial is None else None
    return Learn(mac, guid_serial) if mac or guid_serial else NOTHING_NEW


def identity_problems(port: MachineFacts, query: OptionsQuery, others: list[MachineFacts]) -> list[str]:
    """Why the ask cannot be the port machine's own board (empty: it can)."""
    problems: list[str] = []
    if query.mac and port.mac and query.mac != port.mac:
        problems.append(f"MAC {query.mac} asked on the port of {port.name}, whose MAC is {port.mac}")
    guid = query.guid
    if guid is not None:
        if port.mac and not guid.matches_mac(port.mac):
            problems.append(f"option 97 MAC bytes {guid.mac_lsb.hex() if guid.mac_lsb else ''} do not match "
                            f"{port.name}'s MAC {port.mac}")
        if port.serial and not guid.matches_serial(port.serial):
            problems.append(f"option 97 serial {'/'.join(guid.serial_candidates())} is not {port.name}'s "
                            f"serial {port.serial}")
        elif port.serial is None and port.guid_serial and guid.serial_raw is not None \
                and guid.serial_raw.hex() != port.guid_serial:
            problems.append(f"option 97 serial bytes {guid.serial_raw.hex()} differ from those seen before "
                            f"({port.guid_serial})")
    problems += [f"the board of {other.name} asked on the port of {port.name}" for other in others]
    return problems


@dataclass(frozen=True)
class Gate:
    """The TFTP gate's answer for one board: ``open`` = the TFTP server may serve it."""

    open: bool
    reason: str
    machine: str | None = None
    method: str | None = None


def gate(rows: Sequence[MachineFacts], now: float, policy: Policy) -> Gate:
    """Whether the TFTP server may serve the board whose serial (or MAC) matched ``rows``.

    Open only for a machine the options decision would install now (boot mode ``install``, not flagged, the
    attempt cap not reached) and, under ``opt66-zero`` (which leaves the TFTP server out of boot-local on
    purpose, so that qualification sees what a bootloader does with 0.0.0.0 alone), for a machine in local.
    Closed for anything in doubt: no machine or more than one, flagged, or boot-local by a method that closes
    the gate."""
    if not rows:
        return Gate(False, "unknown board")
    if len(rows) > 1:
        return Gate(False, "ambiguous: " + ", ".join(sorted(row.name for row in rows)))
    machine = rows[0]
    method = policy.method_of(machine)
    if machine.flagged:
        return Gate(False, "flagged", machine.name, method)
    if machine.boot_mode == "install":
        if isinstance(_install(machine, NOTHING_NEW, now, policy), Install):
            return Gate(True, "install", machine.name, method)
        return Gate(False, "attempt cap reached", machine.name, method)
    if closes_gate(method):
        return Gate(False, f"boot local ({method})", machine.name, method)
    return Gate(True, "boot local by option 66 alone (opt66-zero)", machine.name, method)
