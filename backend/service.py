"""What the backend does: DHCP options, the agent's install API and the admin operations.

Every public method is one database transaction (retried a few times when a concurrent writer got there
first), and side effects outside the database (Kea cache flushes) happen only after the commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from backend import interruptions, netplan, states
from backend.binding import Bound, Caller, problems
from backend.config import Settings
from backend.db import Database
from backend.decision import (
    METHODS,
    NO_TFTP,
    BootLocal,
    CountAsk,
    Gate,
    Install,
    Learn,
    MachineFacts,
    OptionsQuery,
    Policy,
    answer,
    decide,
    gate,
    writes,
)
from backend.errors import Conflict, Forbidden, Gone, Invalid, NotFound, ServiceError, Unavailable
from backend.hotread import HotReader
from backend.identity import port_key
from backend.kea import KeaNotifier
from backend.loopguard import LoopGuard
from backend.metrics import Metrics, state_entered_at
from backend.models import Attempt, Event, Machine
from backend.schemas import (
    ActionOut,
    AttemptOut,
    AttemptStateOut,
    EventOut,
    HistoryOut,
    ImportOut,
    MachineIn,
    MachineOut,
    ProgressIn,
    ResultIn,
    ScenarioOut,
)
from backend.tokens import new_token, token_hash, well_formed

log = logging.getLogger("backend")
T = TypeVar("T")
RETRIES = 6
# The columns the admin API shows as they are stored.
ATTEMPT_OUT_COLUMNS = ("number", "state", "created_at", "updated_at", "finished_at", "expires_at", "bytes_written",
                       "bytes_total", "rate_bps", "result_status", "error")
MACHINE_OUT_COLUMNS = ("name", "sub82_1", "sub82_2", "sub82_9", "mac", "serial", "subnet", "boot_mode",
                       "boot_local_method", "flagged", "flag_reason", "attempts", "interruptions", "install",
                       "created_at", "updated_at")


@dataclass
class _Tx:
    """A transaction's session and what to do once it committed."""

    session: Session
    flush_now: list[dict[str, str]] = field(default_factory=list)
    flush_later: list[dict[str, str]] = field(default_factory=list)
    counted: list[Callable[[], None]] = field(default_factory=list)  # metrics, counted once it committed


class _Refusal(Exception):
    """Raised after the commit: the request is refused, but what it caused (a flag) is recorded."""

    def __init__(self, error: ServiceError) -> None:
        self.error = error


def _port(machine: Machine) -> dict[str, str]:
    return {"sub82_1": machine.sub82_1, "sub82_2": machine.sub82_2, "sub82_9": machine.sub82_9}


def _facts(machine: Machine, attempt: Attempt | None) -> MachineFacts:
    """What ``decision.decide`` needs of a machine and its current attempt (as the hot path's read returns it)."""
    return MachineFacts(
        machine.id, machine.name, machine.port_key, machine.mac, machine.serial, machine.guid_serial,
        machine.boot_mode, machine.flagged, machine.mode_changed_at, machine.attempts,
        attempt.state if attempt else None, attempt.token if attempt else None,
        attempt.expires_at if attempt else None, attempt.result_status if attempt else None,
        machine.boot_local_method)


def _retryable(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    code = getattr(exc.orig, "sqlstate", None)
    return "locked" in text or "busy" in text or code in ("40001", "40P01")


class Service:
    def __init__(self, db: Database, settings: Settings, kea: KeaNotifier | None = None,
                 clock: Callable[[], float] = time.time, metrics: Metrics | None = None) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.kea = kea or KeaNotifier(settings.kea_control_url, settings.kea_timeout_s,
                                      settings.kea_standby_control_url)
        self.clock = clock
        self.loop_guard = LoopGuard(settings.loop_guard_count, settings.loop_guard_window_s)
        self.reader = HotReader(db.engine)
        self.policy = Policy(settings.tftp_server or NO_TFTP, settings.max_attempts, settings.loop_guard_count,
                             settings.loop_guard_window_s, settings.boot_local_method)

    def close(self) -> None:
        self.reader.close()
        self.db.dispose()

    # -- transactions ----------------------------------------------------------------------------------------
    def _run(self, operation: Callable[[_Tx], T]) -> tuple[T, list[str]]:
        """Run ``operation`` in one transaction; retried when a concurrent writer won. Returns its value and the
        outcome of the synchronous Kea flushes it asked for."""
        for try_number in range(RETRIES):
            refusal: _Refusal | None = None
            tx: _Tx | None = None
            result: list[T] = []
            try:
                with self.db.transaction() as session:
                    tx = _Tx(session)
                    try:
                        result.append(operation(tx))
                    except _Refusal as refused:
                        refusal = refused
            except StaleDataError:
                pass
            except IntegrityError as exc:
                raise Conflict("conflicts with an existing record", private=str(exc.orig)) from None
            except DBAPIError as exc:
                if not _retryable(exc):
                    raise Unavailable("database unavailable", private=str(exc)) from None
            else:
                assert tx is not None
                for count in tx.counted:
                    count()
                for port in tx.flush_later:
                    self.kea.flush_later(port)
                outcomes = [self.kea.flush(port) for port in tx.flush_now]
                if refusal is not None:
                    raise refusal.error
                return result[0], outcomes
            time.sleep(0.002 * (try_number + 1))
        raise Conflict("the machine was changed concurrently; try again")

    def _read(self, operation: Callable[[_Tx], T]) -> T:
        """A read-only operation on one snapshot, beside the writers: never queued behind them (64 boards'
        progress reports held the TFTP gate's reads back past the TFTP server's 1 s timeout, issue 18.5)."""
        try:
            with self.db.reading() as session:
                return operation(_Tx(session))
        except DBAPIError as exc:
            log.error("database error: %s", exc)
            raise Unavailable(f"database error: {type(exc.orig).__name__}") from None

    def _event(self, tx: _Tx, machine: Machine, kind: str, message: str, attempt: Attempt | None = None,
               data: dict[str, Any] | None = None) -> None:
        tx.session.add(Event(machine_id=machine.id, attempt_id=attempt.id if attempt else None, at=self.clock(),
                             kind=kind, message=message, data=data))

    def _touch(self, machine: Machine) -> None:
        machine.updated_at = self.clock()

    def _end_attempt(self, tx: _Tx, machine: Machine, attempt: Attempt, error: str) -> None:
        """A live attempt stops (failed or cancelled): its token dies with it."""
        now = self.clock()
        previous = attempt.state
        attempt.state = "failed"
        attempt.error = error
        attempt.token = None
        attempt.finished_at = now
        attempt.updated_at = now
        self._event(tx, machine, "state", f"attempt {attempt.number}: {previous} → failed: {error}", attempt)
        tx.counted.append(partial(self.metrics.attempt_ended, error, attempt.result_status))

    def _flag(self, tx: _Tx, machine: Machine, reason: str, attempt: Attempt | None, hot: bool) -> None:
        if machine.flagged:
            return
        machine.flagged = True
        machine.flag_reason = reason
        self._touch(machine)
        if attempt is not None and attempt.id == machine.current_attempt_id and attempt.state not in states.FINAL \
                and attempt.result_status is None:
            self._end_attempt(tx, machine, attempt, f"cancelled: machine flagged: {reason}")
        self._event(tx, machine, "flagged", reason)
        tx.counted.append(partial(self.metrics.flagged, reason))
        log.warning("machine %s flagged: %s", machine.name, reason)
        pending = tx.flush_later if hot else tx.flush_now
        if _port(machine) not in pending:
            pending.append(_port(machine))

    def _attempt_failed(self, tx: _Tx, machine: Machine, attempt: Attempt, error: str, hot: bool) -> None:
        """A failed attempt; at the attempt cap the machine goes to local and is flagged. The hook's cache of the
        port is flushed: it may still hold the dead token, which the board's next boot must not get."""
        self._end_attempt(tx, machine, attempt, error)
        pending = tx.flush_later if hot else tx.flush_now
        if _port(machine) not in pending:
            pending.append(_port(machine))
        if machine.attempts >= self.settings.max_attempts and machine.boot_mode == "install":
            machine.boot_mode = "local"
            machine.mode_changed_at = self.clock()
            self._flag(tx, machine, f"{machine.attempts} install attempts failed (cap {self.settings.max_attempts}); "
                              f"last: {error}", None, hot)
        self._touch(machine)

    # -- DHCP options: the hot path --------------------------------------------------------------------------
    def options(self, query: OptionsQuery, base_url: str) -> dict[str, str]:
        """The answer for one DHCP ask. The common answers come from one read (``read_only_answer``); anything
        that has to write (a token, an identity seen for the first time, a flag) takes one transaction."""
        answer, loop_guard_tripped = self.read_only_answer(query, base_url)
        if answer is not None:
            return answer
        return self.answer_in_transaction(query, base_url, loop_guard_tripped)

    def read_only_answer(self, query: OptionsQuery,
                         base_url: str) -> tuple[dict[str, str] | None, bool | None]:
        """One read, no transaction, no ORM. Returns (answer, None) when the decision writes nothing, else
        (None, the loop guard's verdict if this ask was already counted) for ``answer_in_transaction``."""
        rows = self.reader.rows(query.port_keys, query.mac, query.serials)
        if not rows:
            return answer(BootLocal("unknown switch port", tftp=self.policy.local_tftp(self.policy.boot_local_method)),
                          base_url), None
        decision, loop_guard_tripped = self._decide(query, rows, self.clock(), None)
        if writes(decision):
            return None, loop_guard_tripped
        return answer(decision, base_url), None

    def answer_in_transaction(self, query: OptionsQuery, base_url: str,
                              loop_guard_tripped: bool | None = None) -> dict[str, str]:
        """The same decision on the same facts, read and carried out in one transaction."""
        value, _ = self._run(lambda tx: self._answer_in(tx, query, base_url, loop_guard_tripped))
        return value

    def _decide(self, query: OptionsQuery, rows: Sequence[MachineFacts], now: float,
                loop_guard_tripped: bool | None) -> tuple[Install | BootLocal, bool | None]:
        """``decision.decide``, counting the ask in the loop guard when it asks for that (once per ask)."""
        decision = decide(query, rows, now, self.policy, loop_guard_tripped)
        if isinstance(decision, CountAsk):
            loop_guard_tripped = self.loop_guard.ask(decision.machine_id, now, decision.since)
            decision = decide(query, rows, now, self.policy, loop_guard_tripped)
        assert not isinstance(decision, CountAsk)  # a verdict was given: decide does not ask again
        return decision, loop_guard_tripped

    def _answer_in(self, tx: _Tx, query: OptionsQuery, base_url: str,
                   loop_guard_tripped: bool | None) -> dict[str, str]:
        keys = query.port_keys
        serials = query.serials
        conditions: list[ColumnElement[bool]] = [Machine.port_key.in_(keys)]
        if query.mac:
            conditions.append(Machine.mac == query.mac)
        if serials:
            conditions.append(Machine.serial.in_(serials))
        records = {machine.id: (machine, attempt) for machine, attempt in tx.session.execute(
            select(Machine, Attempt)
            .outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
            .where(or_(*conditions))
        ).all()}
        now = self.clock()
        facts = [_facts(machine, attempt) for machine, attempt in records.values()]
        decision, _ = self._decide(query, facts, now, loop_guard_tripped)
        token = self._carry_out(tx, decision, records, now)
        return answer(decision, base_url, token)

    def _carry_out(self, tx: _Tx, decision: Install | BootLocal,
                   records: Mapping[int, tuple[Machine, Attempt | None]], now: float) -> str | None:
        """Write what ``decision`` says; the new attempt's token when it starts one."""
        if decision.machine_id is None:  # an unknown port: only the boards seen on it are flagged
            self._apply_flags(tx, decision, records)
            return None
        machine, attempt = records[decision.machine_id]
        self._learn_identity(tx, machine, decision.learn)
        if decision.expire is not None:
            assert attempt is not None
            self._attempt_failed(tx, machine, attempt, decision.expire, hot=True)
        if isinstance(decision, Install):
            return decision.token or self._new_attempt(tx, machine, attempt, now)
        if decision.to_local:
            machine.boot_mode = "local"
            machine.mode_changed_at = now
        self._apply_flags(tx, decision, records)
        if decision.forget_asks:
            self.loop_guard.forget(machine.id)
        return None

    def _apply_flags(self, tx: _Tx, decision: BootLocal | Install,
                     records: Mapping[int, tuple[Machine, Attempt | None]]) -> None:
        for flag in decision.flags if isinstance(decision, BootLocal) else ():
            machine, attempt = records[flag.machine_id]
            self._flag(tx, machine, flag.reason, attempt if flag.cancel_attempt else None, hot=True)

    def _learn_identity(self, tx: _Tx, machine: Machine, learn: Learn) -> None:
        if learn.mac is not None:
            machine.mac = learn.mac
            self._touch(machine)
            self._event(tx, machine, "identity", f"MAC {learn.mac} recorded from DHCP")
        if learn.guid_serial is not None:
            machine.guid_serial = learn.guid_serial
            self._touch(machine)
            self._event(tx, machine, "identity", f"option-97 serial bytes {learn.guid_serial} recorded")

    def _new_attempt(self, tx: _Tx, machine: Machine, previous: Attempt | None, now: float) -> str:
        token = new_token()
        attempt = Attempt(machine_id=machine.id, number=(previous.number if previous else 0) + 1, state="pending",
                    token_hash=token_hash(token), token=token, expires_at=now + self.settings.token_ttl_s,
                    created_at=now, updated_at=now)
        tx.session.add(attempt)
        tx.session.flush()
        machine.current_attempt_id = attempt.id
        machine.attempts += 1
        self._touch(machine)
        self._event(tx, machine, "attempt", f"attempt {attempt.number} started: install token issued", attempt)
        return token

    # -- the agent's API, by token ---------------------------------------------------------------------------
    def _live_attempt(self, tx: _Tx, token: str) -> tuple[Machine, Attempt]:
        """The machine and attempt of a token that still serves: 404 unknown, 410 over/superseded/expired."""
        if not well_formed(token):
            raise NotFound("unknown install token")
        # The attempt's row is locked (PostgreSQL; SQLite has one writer at a time): a concurrent state change
        # (reinstall, set-local, a flag) either waits for this transaction or is seen by it, never overwritten.
        row = tx.session.execute(
            select(Attempt, Machine).join(Machine, Machine.id == Attempt.machine_id)
            .where(Attempt.token_hash == token_hash(token)).with_for_update(of=Attempt)
        ).first()
        if row is None:
            raise NotFound("unknown install token")
        attempt, machine = row
        if attempt.state in states.FINAL:
            why = f": {attempt.error}" if attempt.error else ""
            raise Gone(f"install attempt {attempt.number} of {machine.name} is over ({attempt.state}{why})")
        if machine.current_attempt_id != attempt.id:
            raise Gone(f"install attempt {attempt.number} of {machine.name} was superseded")
        if attempt.expires_at <= self.clock():
            raise Gone(f"the install token of attempt {attempt.number} of {machine.name} expired")
        return machine, attempt

    def _bound_attempt(self, tx: _Tx, token: str, caller: Caller, record: bool) -> tuple[Machine, Attempt]:
        """The live attempt of a token, called by the board it was minted for (``backend.binding``); else 403 and
        an event in the machine's history, and nothing else changes. ``record``: a MAC or serial the machine does
        not know yet is recorded (never on a GET)."""
        machine, attempt = self._live_attempt(tx, token)
        found = problems(Bound(machine.name, machine.subnet, machine.mac, machine.serial, machine.guid_serial),
                         caller)
        conditions: list[ColumnElement[bool]] = []
        if caller.serial:
            conditions.append(Machine.serial == caller.serial)
        if caller.mac:
            conditions.append(Machine.mac == caller.mac)
        if conditions:
            found += [f"the agent reports the identity of {other}" for other in tx.session.scalars(
                select(Machine.name).where(or_(*conditions), Machine.id != machine.id))]
        if found:
            reason = "; ".join(found)
            self._event(tx, machine, "refused", f"agent call refused (attempt {attempt.number}): {reason}", attempt,
                        {"address": caller.address, "serial": caller.serial, "mac": caller.mac})
            log.warning("agent call for %s refused: %s", machine.name, reason)
            # the caller learns nothing of the machine (its MAC, serial, subnet): the reason is in the history
            raise _Refusal(Forbidden("this install token does not belong to this board or network; "
                                     "the refusal is in the machine's history"))
        if record:
            self._record_identity(tx, machine, attempt, caller)
        return machine, attempt

    def _record_identity(self, tx: _Tx, machine: Machine, attempt: Attempt, caller: Caller) -> None:
        """First contact: the MAC/serial the board reports, where the machine had none (a machine defined without
        a serial installs, bound to its port and MAC; the serial its board reports first is kept)."""
        if caller.serial and machine.serial is None:
            machine.serial = caller.serial
            self._touch(machine)
            self._event(tx, machine, "identity", f"serial {caller.serial} recorded from the installer", attempt)
        if caller.mac and machine.mac is None:
            machine.mac = caller.mac
            self._touch(machine)
            self._event(tx, machine, "identity", f"MAC {caller.mac} recorded from the installer", attempt)

    def _attempt_before_result(self, tx: _Tx, token: str, caller: Caller,
                               record: bool) -> tuple[Machine, Attempt]:
        """A live attempt that has not reported its result yet (scenario and netplan are read only then)."""
        machine, attempt = self._bound_attempt(tx, token, caller, record)
        if attempt.result_status is not None:
            raise Gone(f"install attempt {attempt.number} of {machine.name} already reported its result; "
                       "only /booted is accepted")
        if machine.install is None:
            raise Gone(f"{machine.name} has no install scenario any more")
        return machine, attempt

    def scenario(self, token: str, base_url: str, caller: Caller) -> ScenarioOut:
        value, _ = self._run(lambda tx: self._scenario(tx, token, base_url, caller))
        return value

    def _scenario(self, tx: _Tx, token: str, base_url: str, caller: Caller) -> ScenarioOut:
        machine, attempt = self._attempt_before_result(tx, token, caller, record=True)
        if attempt.state == "pending":
            self._set_state(tx, machine, attempt, "netbooting")
        elif attempt.state in ("writing", "verifying") and attempt.result_status is None:
            # the installer asks again for a scenario it was already writing: the board was reset or lost power
            # mid-install and netbooted again; the attempt starts over (its progress may go back to netbooting),
            # unless that was one interruption too many (issue 18.6)
            self._interrupted(tx, machine, attempt)
            self._set_state(tx, machine, attempt, "netbooting",
                            " (the installer started again: reset or power cut mid-install)")
        return self._scenario_out(machine, attempt, f"{base_url}/v1/install/{token}")

    def _interrupted(self, tx: _Tx, machine: Machine, attempt: Attempt) -> None:
        """Count an install that started over mid-write. At the cap (``MALINA_MAX_INTERRUPTIONS``) the attempt
        fails, the machine goes to local and is flagged, and the installer is refused (410): a board whose power
        fails during every write would otherwise reinstall forever (the attempt cap never sees a failure)."""
        machine.interruptions += 1
        cap = self.settings.max_interruptions
        where = interruptions.where(attempt.state, attempt.bytes_written, attempt.bytes_total)
        self._event(tx, machine, "interrupted", interruptions.event_text(attempt.number, where, machine.interruptions,
                                                                       cap), attempt)
        if not interruptions.reached(machine.interruptions, cap):
            return
        reason = interruptions.flag_reason(machine.interruptions, cap)
        self._end_attempt(tx, machine, attempt, reason)
        machine.boot_mode = "local"
        machine.mode_changed_at = self.clock()
        self._flag(tx, machine, reason, None, hot=False)
        self._touch(machine)
        raise _Refusal(Gone(f"install attempt {attempt.number} of {machine.name} is over: {reason}"))

    @staticmethod
    def _scenario_out(machine: Machine, attempt: Attempt, url: str) -> ScenarioOut:
        spec = machine.install
        assert spec is not None
        net = spec["network"]
        return ScenarioOut.model_validate({
            "machine": machine.name, "attempt": attempt.number, "serial": machine.serial, "mac": machine.mac,
            "image": spec["image"], "hostname": spec["hostname"],
            "ssh_authorized_keys": spec.get("ssh_authorized_keys", []),
            "network": {"interface": net["interface"], "address": net["address"],
                        "gateway": net.get("gateway"), "dns": net.get("dns", [])},
            "netplan_url": f"{url}/netplan", "progress_url": f"{url}/progress", "result_url": f"{url}/result",
            "booted_url": f"{url}/booted",
        })

    def netplan(self, token: str, caller: Caller) -> str:
        def in_transaction(tx: _Tx) -> str:
            machine, _ = self._attempt_before_result(tx, token, caller, record=False)
            assert machine.install is not None
            return netplan.render(machine.install["network"])

        value, _ = self._run(in_transaction)
        return value

    def _set_state(self, tx: _Tx, machine: Machine, attempt: Attempt, state: str, note: str = "") -> None:
        previous = attempt.state
        since = state_entered_at(tx.session, machine.id, attempt)
        attempt.state = state
        attempt.updated_at = self.clock()
        tx.counted.append(partial(self.metrics.phase_left, previous, state, attempt.updated_at - since))
        self._event(tx, machine, "state", f"attempt {attempt.number}: {previous} → {state}{note}", attempt)

    def _state_out(self, machine: Machine, attempt: Attempt) -> AttemptStateOut:
        return AttemptStateOut.model_validate({"machine": machine.name, "attempt": attempt.number,
                                               "state": attempt.state, "boot_mode": machine.boot_mode,
                                               "error": attempt.error})

    def progress(self, token: str, body: ProgressIn, caller: Caller) -> AttemptStateOut:
        def in_transaction(tx: _Tx) -> AttemptStateOut:
            machine, attempt = self._bound_attempt(tx, token, caller, record=True)
            if attempt.result_status is not None:
                raise states.IllegalTransition(attempt.state, body.phase, "the result was already reported")
            states.check_progress(attempt.state, body.phase)
            if body.phase != attempt.state:
                self._set_state(tx, machine, attempt, body.phase)
            now = self.clock()
            attempt.bytes_written = body.bytes_written
            attempt.bytes_total = body.bytes_total
            attempt.rate_bps = body.rate_bps
            attempt.updated_at = now
            attempt.expires_at = now + self.settings.token_ttl_s
            return self._state_out(machine, attempt)

        value, _ = self._run(in_transaction)
        return value

    def result(self, token: str, body: ResultIn, caller: Caller) -> AttemptStateOut:
        def in_transaction(tx: _Tx) -> AttemptStateOut:
            machine, attempt = self._bound_attempt(tx, token, caller, record=True)
            states.check_result(attempt.state, body.status, attempt.result_status is not None)
            now = self.clock()
            attempt.updated_at = now
            attempt.expires_at = now + self.settings.token_ttl_s
            if body.bytes_written is not None:
                attempt.bytes_written = body.bytes_written
            attempt.result_sha256 = body.sha256.lower() if body.sha256 else None
            error = body.error or "the installer reported a failure without a message"
            if body.status == "success":
                assert machine.install is not None
                image = machine.install["image"]
                if attempt.result_sha256 != image["sha256"]:
                    error = (f"verification failed: sha256 {attempt.result_sha256} is not the expected "
                             f"{image['sha256']}")
                elif body.bytes_written is not None and body.bytes_written != image["size"]:
                    error = (f"verification failed: {body.bytes_written} bytes written, "
                             f"expected {image['size']}")
                else:
                    attempt.result_status = "success"
                    attempt.token = None
                    if attempt.state != "configured":
                        self._set_state(tx, machine, attempt, "configured", " (verified)")
                    machine.boot_mode = "local"
                    machine.mode_changed_at = now
                    self._touch(machine)
                    self._event(tx, machine, "installed", f"attempt {attempt.number} verified; boot mode → local",
                                attempt)
                    tx.counted.append(partial(self.metrics.installed, now - attempt.created_at))
                    tx.flush_later.append(_port(machine))
                    return self._state_out(machine, attempt)
            attempt.result_status = "failure"
            self._attempt_failed(tx, machine, attempt, error, hot=False)
            return self._state_out(machine, attempt)

        value, _ = self._run(in_transaction)
        return value

    def booted(self, token: str, caller: Caller) -> AttemptStateOut:
        def in_transaction(tx: _Tx) -> AttemptStateOut:
            machine, attempt = self._bound_attempt(tx, token, caller, record=True)
            states.check_booted(attempt.state, attempt.result_status)
            self._set_state(tx, machine, attempt, "booted-ok")
            attempt.finished_at = self.clock()
            return self._state_out(machine, attempt)

        value, _ = self._run(in_transaction)
        return value

    # -- admin -----------------------------------------------------------------------------------------------
    def _machine_out(self, machine: Machine, attempt: Attempt | None) -> MachineOut:
        last = None
        if attempt is not None:
            last = AttemptOut.model_validate({column: getattr(attempt, column) for column in ATTEMPT_OUT_COLUMNS})
        return MachineOut.model_validate({**{column: getattr(machine, column) for column in MACHINE_OUT_COLUMNS},
                                          "boot_local_method_effective": self.policy.method_of(_facts(machine, None)),
                                          "last_attempt": last})

    def _machine_named(self, tx: _Tx, name: str) -> tuple[Machine, Attempt | None]:
        row = tx.session.execute(
            select(Machine, Attempt).outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
            .where(Machine.name == name)
        ).first()
        if row is None:
            raise NotFound(f"no machine named {name!r}")
        return row[0], row[1]

    def list_machines(self) -> list[MachineOut]:
        def in_transaction(tx: _Tx) -> list[MachineOut]:
            rows = tx.session.execute(
                select(Machine, Attempt).outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
                .order_by(Machine.name)
            ).all()
            return [self._machine_out(machine, attempt) for machine, attempt in rows]

        return self._read(in_transaction)

    def get_machine(self, name: str) -> MachineOut:
        return self._read(lambda tx: self._machine_out(*self._machine_named(tx, name)))

    def _check_unique(self, tx: _Tx, spec: MachineIn, exclude: int | None) -> None:
        key = port_key(spec.sub82_1, spec.sub82_2, spec.sub82_9)
        conds = [Machine.port_key == key]
        if spec.mac:
            conds.append(Machine.mac == spec.mac)
        if spec.serial:
            conds.append(Machine.serial == spec.serial)
        stmt = select(Machine).where(or_(*conds))
        if exclude is not None:
            stmt = stmt.where(Machine.id != exclude)
        for other in tx.session.scalars(stmt):
            if other.port_key == key:
                raise Conflict(f"that switch port already belongs to {other.name}")
            if spec.mac and other.mac == spec.mac:
                raise Conflict(f"MAC {spec.mac} already belongs to {other.name}")
            raise Conflict(f"serial {spec.serial} already belongs to {other.name}")

    @staticmethod
    def _definition(spec: MachineIn) -> dict[str, Any]:
        return {"sub82_1": spec.sub82_1, "sub82_2": spec.sub82_2, "sub82_9": spec.sub82_9,
                "port_key": port_key(spec.sub82_1, spec.sub82_2, spec.sub82_9), "mac": spec.mac,
                "serial": spec.serial, "subnet": str(spec.subnet) if spec.subnet else None, "boot_mode": spec.boot_mode,
                "install": spec.install.model_dump(mode="json") if spec.install else None}

    def _create(self, tx: _Tx, spec: MachineIn) -> Machine:
        if tx.session.scalar(select(Machine.id).where(Machine.name == spec.name)) is not None:
            raise Conflict(f"machine {spec.name!r} exists; PUT /v1/admin/machines/{spec.name} redefines it")
        self._check_unique(tx, spec, None)
        now = self.clock()
        machine = Machine(name=spec.name, flagged=False, attempts=0, interruptions=0, mode_changed_at=now,
                          created_at=now, updated_at=now, **self._definition(spec))
        tx.session.add(machine)
        tx.session.flush()
        self._event(tx, machine, "added", f"added ({spec.boot_mode})")
        return machine

    def _upsert(self, tx: _Tx, spec: MachineIn) -> tuple[Machine, Attempt | None, bool]:
        """Create or redefine; returns (machine, attempt, created). A changed definition cancels a running
        install, clears the flag and the attempt count."""
        row = tx.session.execute(
            select(Machine, Attempt).outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
            .where(Machine.name == spec.name)
        ).first()
        if row is None:
            return self._create(tx, spec), None, True
        machine, attempt = row
        new = self._definition(spec)
        changed = sorted(column for column, value in new.items() if getattr(machine, column) != value)
        if not changed:
            return machine, attempt, False
        self._check_unique(tx, spec, machine.id)
        if attempt is not None and attempt.state not in states.FINAL and attempt.result_status is None:
            self._end_attempt(tx, machine, attempt, "cancelled: machine redefined")
        old_port = _port(machine)
        for column, value in new.items():
            setattr(machine, column, value)
        machine.flagged = False
        machine.flag_reason = None
        machine.attempts = 0
        machine.interruptions = 0
        machine.mode_changed_at = self.clock()
        self._touch(machine)
        self.loop_guard.forget(machine.id)
        self._event(tx, machine, "redefined", f"redefined: {', '.join(changed)} changed")
        tx.flush_now.append(old_port)
        if _port(machine) != old_port:
            tx.flush_now.append(_port(machine))
        return machine, attempt, False

    def add(self, spec: MachineIn) -> MachineOut:
        value, _ = self._run(lambda tx: self._machine_out(self._create(tx, spec), None))
        return value

    def put(self, spec: MachineIn) -> tuple[MachineOut, bool]:
        def in_transaction(tx: _Tx) -> tuple[MachineOut, bool]:
            machine, attempt, created = self._upsert(tx, spec)
            return self._machine_out(machine, attempt), created

        value, _ = self._run(in_transaction)
        return value

    def import_machines(self, specs: list[MachineIn]) -> ImportOut:
        names = [spec.name for spec in specs]
        dup = sorted({name for name in names if names.count(name) > 1})
        if dup:
            raise Conflict(f"the import names these machines more than once: {', '.join(dup)}")

        def in_transaction(tx: _Tx) -> ImportOut:
            created: list[str] = []
            updated: list[str] = []
            for spec in specs:
                before = len(tx.flush_now)
                _, _, new = self._upsert(tx, spec)
                if new:
                    created.append(spec.name)
                elif len(tx.flush_now) > before:
                    updated.append(spec.name)
            return ImportOut(created=created, updated=updated)

        value, _ = self._run(in_transaction)
        return value

    def reinstall(self, name: str) -> ActionOut:
        return self._switch_mode(name, "install")

    def set_local(self, name: str) -> ActionOut:
        return self._switch_mode(name, "local")

    def _switch_mode(self, name: str, mode: str) -> ActionOut:
        """An operator's reinstall (``install``: attempts start again from zero) or set-local (``local``): an
        unfinished attempt is cancelled, the flag cleared, the loop guard forgets the machine, and the hook's
        cache of its port is flushed so that the next DISCOVER gets the new answer."""
        action = "reinstall" if mode == "install" else "set-local"

        def in_transaction(tx: _Tx) -> MachineOut:
            machine, attempt = self._machine_named(tx, name)
            if mode == "install" and machine.install is None:
                raise Conflict(f"{name} has no install scenario; redefine it with one first")
            if mode == "install" and machine.subnet is None:
                raise Conflict(f"{name}'s switch port has no subnet (install tokens work only from it); "
                               "redefine it with one first")
            if attempt is not None and attempt.state not in states.FINAL and attempt.result_status is None:
                self._end_attempt(tx, machine, attempt, f"cancelled by {action}")
            machine.boot_mode = mode
            machine.flagged = False
            machine.flag_reason = None
            if mode == "install":
                machine.attempts = 0
                machine.interruptions = 0
            machine.mode_changed_at = self.clock()
            self._touch(machine)
            self.loop_guard.forget(machine.id)
            self._event(tx, machine, action, f"{action} requested: boot mode → {mode}")
            tx.flush_now.append(_port(machine))
            return self._machine_out(machine, attempt)

        value, flushes = self._run(in_transaction)
        return ActionOut(machine=value, kea_flush=flushes[0] if flushes else "disabled")

    def set_boot_local_method(self, name: str, method: str | None) -> ActionOut:
        """The machine's own boot-local method (None: the lab's). Nothing else changes (attempts, flag, mode);
        the hook's cache of its port is flushed so that the next answer follows the new method."""
        if method is not None and method not in METHODS:
            raise Invalid(f"unknown boot-local method {method!r}: one of {', '.join(METHODS)}, or none")

        def in_transaction(tx: _Tx) -> MachineOut:
            machine, attempt = self._machine_named(tx, name)
            if machine.boot_local_method != method:
                machine.boot_local_method = method
                self._touch(machine)
                self._event(tx, machine, "method", f"boot-local method → {method or 'the lab default'} "
                                                   f"({self.policy.method_of(_facts(machine, None))})")
                tx.flush_now.append(_port(machine))
            return self._machine_out(machine, attempt)

        value, flushes = self._run(in_transaction)
        return ActionOut(machine=value, kea_flush=flushes[0] if flushes else "disabled")

    # -- the TFTP gate ---------------------------------------------------------------------------------------
    def tftp_gate(self, serial: str | None, mac: str | None) -> Gate:
        """Whether the TFTP server may serve the board with this serial (as the bootloader's path prefix shows
        it, matched against the known serial and the option-97 serial bytes in either order) or MAC."""
        conditions: list[ColumnElement[bool]] = []
        if serial:
            swapped = bytes.fromhex(serial)[::-1].hex()
            conditions += [Machine.serial == serial, Machine.guid_serial.in_([serial, swapped])]
        if mac:
            conditions.append(Machine.mac == mac)
        if not conditions:
            return Gate(False, "no serial or MAC given")

        def in_transaction(tx: _Tx) -> Gate:
            rows = tx.session.execute(
                select(Machine, Attempt).outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
                .where(or_(*conditions))
            ).all()
            return gate([_facts(machine, attempt) for machine, attempt in rows], self.clock(), self.policy)

        return self._read(in_transaction)

    def history(self, name: str, limit: int = 200) -> HistoryOut:
        def in_transaction(tx: _Tx) -> HistoryOut:
            machine, _ = self._machine_named(tx, name)
            rows = tx.session.execute(
                select(Event, Attempt.number).outerjoin(Attempt, Attempt.id == Event.attempt_id)
                .where(Event.machine_id == machine.id).order_by(Event.id.desc()).limit(limit)
            ).all()
            events = [EventOut(id=event.id, at=event.at, kind=event.kind, attempt=number, message=event.message,
                               data=event.data)
                      for event, number in reversed(rows)]
            return HistoryOut(machine=machine.name, events=events)

        return self._read(in_transaction)
