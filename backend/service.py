"""What the backend does: DHCP options, the agent's install API and the admin operations.

Every public method is one database transaction (retried a few times when a concurrent writer got there
first), and side effects outside the database (Kea cache flushes) happen only after the commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from backend import netplan, states
from backend.config import Settings
from backend.db import Database
from backend.errors import Conflict, Gone, NotFound, ServiceError, Unavailable
from backend.hotread import HotReader
from backend.identity import Guid, port_key
from backend.kea import KeaNotifier
from backend.loopguard import LoopGuard
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
LOCAL = {"66": "0.0.0.0"}
RETRIES = 6


@dataclass(frozen=True)
class OptionsQuery:
    sub82_1: str
    sub82_2: str
    sub82_9: str = ""
    mac: str | None = None
    guid: Guid | None = None


@dataclass
class _Tx:
    """A transaction's session and what to do once it committed."""

    session: Session
    flush_now: list[dict[str, str]] = field(default_factory=list)
    flush_later: list[dict[str, str]] = field(default_factory=list)


class _Refusal(Exception):
    """Raised after the commit: the request is refused, but what it caused (a flag) is recorded."""

    def __init__(self, error: ServiceError) -> None:
        self.error = error


def _port(m: Machine) -> dict[str, str]:
    return {"sub82_1": m.sub82_1, "sub82_2": m.sub82_2, "sub82_9": m.sub82_9}


def _retryable(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    code = getattr(exc.orig, "sqlstate", None)
    return "locked" in text or "busy" in text or code in ("40001", "40P01")


class Service:
    def __init__(self, db: Database, settings: Settings, kea: KeaNotifier | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.settings = settings
        self.kea = kea or KeaNotifier(settings.kea_control_url, settings.kea_timeout_s)
        self.clock = clock
        self.loop_guard = LoopGuard(settings.loop_guard_count, settings.loop_guard_window_s)
        self.reader = HotReader(db.engine)

    def close(self) -> None:
        self.reader.close()
        self.db.dispose()

    # -- transactions ----------------------------------------------------------------------------------------
    def _run(self, fn: Callable[[_Tx], T]) -> tuple[T, list[str]]:
        """Run ``fn`` in one transaction; retried when a concurrent writer won. Returns its value and the
        outcome of the synchronous Kea flushes it asked for."""
        for attempt in range(RETRIES):
            refusal: _Refusal | None = None
            tx: _Tx | None = None
            result: list[T] = []
            try:
                with self.db.transaction() as session:
                    tx = _Tx(session)
                    try:
                        result.append(fn(tx))
                    except _Refusal as r:
                        refusal = r
            except StaleDataError:
                pass
            except IntegrityError as exc:
                raise Conflict(f"conflicts with an existing record: {exc.orig}") from None
            except DBAPIError as exc:
                if not _retryable(exc):
                    log.error("database error: %s", exc)
                    raise Unavailable(f"database error: {type(exc.orig).__name__}") from None
            else:
                assert tx is not None
                for port in tx.flush_later:
                    self.kea.flush_later(port)
                outcomes = [self.kea.flush(port) for port in tx.flush_now]
                if refusal is not None:
                    raise refusal.error
                return result[0], outcomes
            time.sleep(0.002 * (attempt + 1))
        raise Conflict("the machine was changed concurrently; try again")

    def _event(self, tx: _Tx, m: Machine, kind: str, message: str, attempt: Attempt | None = None,
               data: dict[str, Any] | None = None) -> None:
        tx.session.add(Event(machine_id=m.id, attempt_id=attempt.id if attempt else None, at=self.clock(),
                             kind=kind, message=message, data=data))

    def _touch(self, m: Machine) -> None:
        m.updated_at = self.clock()

    def _end_attempt(self, tx: _Tx, m: Machine, a: Attempt, error: str) -> None:
        """A live attempt stops (failed or cancelled): its token dies with it."""
        now = self.clock()
        previous = a.state
        a.state = "failed"
        a.error = error
        a.token = None
        a.finished_at = now
        a.updated_at = now
        self._event(tx, m, "state", f"attempt {a.number}: {previous} → failed: {error}", a)

    def _flag(self, tx: _Tx, m: Machine, reason: str, a: Attempt | None, hot: bool) -> None:
        if m.flagged:
            return
        m.flagged = True
        m.flag_reason = reason
        self._touch(m)
        if a is not None and a.id == m.current_attempt_id and a.state not in states.FINAL \
                and a.result_status is None:
            self._end_attempt(tx, m, a, f"cancelled: machine flagged: {reason}")
        self._event(tx, m, "flagged", reason)
        log.warning("machine %s flagged: %s", m.name, reason)
        pending = tx.flush_later if hot else tx.flush_now
        if _port(m) not in pending:
            pending.append(_port(m))

    def _attempt_failed(self, tx: _Tx, m: Machine, a: Attempt, error: str, hot: bool) -> None:
        """A failed attempt; at the attempt cap the machine goes to local and is flagged. The hook's cache of the
        port is flushed: it may still hold the dead token, which the board's next boot must not get."""
        self._end_attempt(tx, m, a, error)
        pending = tx.flush_later if hot else tx.flush_now
        if _port(m) not in pending:
            pending.append(_port(m))
        if m.attempts >= self.settings.max_attempts and m.boot_mode == "install":
            m.boot_mode = "local"
            m.mode_changed_at = self.clock()
            self._flag(tx, m, f"{m.attempts} install attempts failed (cap {self.settings.max_attempts}); "
                              f"last: {error}", None, hot)
        self._touch(m)

    # -- DHCP options: the hot path --------------------------------------------------------------------------
    def options(self, q: OptionsQuery, base_url: str) -> dict[str, str]:
        """The answer for one DHCP ask. The common answers come from one read (``options_fast``); anything
        that has to write (a token, an identity seen for the first time, a flag) takes one transaction."""
        answer, tripped = self.options_fast(q, base_url)
        if answer is not None:
            return answer
        return self.options_write(q, base_url, tripped)

    def options_write(self, q: OptionsQuery, base_url: str, tripped: bool | None = None) -> dict[str, str]:
        value, _ = self._run(lambda tx: self._options(tx, q, base_url, tripped))
        return value

    def options_fast(self, q: OptionsQuery, base_url: str) -> tuple[dict[str, str] | None, bool | None]:
        """One read, no transaction, no ORM. Returns (answer, None) when the answer needs no write, else
        (None, loop-guard verdict if it was already counted)."""
        keys = [port_key(q.sub82_1, q.sub82_2, q.sub82_9)]
        if q.sub82_9:
            keys.append(port_key(q.sub82_1, q.sub82_2, ""))
        rows = self.reader.rows(keys, q.mac, q.guid.serial_candidates() if q.guid else ())
        if not rows:
            return LOCAL, None
        if len(rows) > 1:
            return None, None
        r = rows[0]
        if r.port_key not in keys:
            return None, None  # a known board on another port
        if r.flagged:
            return LOCAL, None
        if q.mac and r.mac != q.mac:
            return None, None  # first sight of the MAC, or a mismatch
        if q.guid is not None:
            if r.mac is None or not q.guid.matches_mac(r.mac):
                return None, None
            if q.guid.serial_raw is not None:
                if r.serial is not None:
                    if not q.guid.matches_serial(r.serial):
                        return None, None
                elif r.guid_serial != q.guid.serial_raw.hex():
                    return None, None
        now = self.clock()
        if r.boot_mode == "local":
            if self.loop_guard.ask(r.id, now, r.mode_changed_at):
                return None, True
            return LOCAL, None
        if r.state in states.INSTALLING and r.result_status is None and r.token is not None \
                and r.expires_at is not None and r.expires_at > now:
            tftp = self.settings.tftp_server or "0.0.0.0"
            return {"66": tftp, "224": f"{base_url}/v1/install/{r.token}"}, None
        return None, None

    def _options(self, tx: _Tx, q: OptionsQuery, base_url: str,
                 tripped: bool | None = None) -> dict[str, str]:
        s = tx.session
        keys = [port_key(q.sub82_1, q.sub82_2, q.sub82_9)]
        if q.sub82_9:
            keys.append(port_key(q.sub82_1, q.sub82_2, ""))
        serials = q.guid.serial_candidates() if q.guid else ()
        conds: list[ColumnElement[bool]] = [Machine.port_key.in_(keys)]
        if q.mac:
            conds.append(Machine.mac == q.mac)
        if serials:
            conds.append(Machine.serial.in_(serials))
        rows = s.execute(
            select(Machine, Attempt)
            .outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
            .where(or_(*conds))
        ).all()
        by_key = {m.port_key: (m, a) for m, a in rows}
        found = by_key.get(keys[0]) or (by_key.get(keys[1]) if len(keys) > 1 else None)
        others = [m for m, _ in rows
                  if (found is None or m.id != found[0].id) and (
                      (q.mac is not None and m.mac == q.mac)
                      or (m.serial is not None and m.serial in serials))]
        if found is None:
            for o in others:
                self._flag(tx, o, f"seen on an unknown switch port ({keys[0]})", None, hot=True)
            return LOCAL
        m, a = found
        if m.flagged:
            return LOCAL
        problems = self._identity_problems(m, q, others)
        if problems:
            reason = "; ".join(problems)
            self._flag(tx, m, reason, a, hot=True)
            for o in others:
                self._flag(tx, o, f"seen on the port of {m.name}", None, hot=True)
            return LOCAL
        self._learn_identity(tx, m, q)
        now = self.clock()
        if m.boot_mode == "local":
            if tripped if tripped is not None else self.loop_guard.ask(m.id, now, m.mode_changed_at):
                self._flag(tx, m, f"loop guard: more than {self.settings.loop_guard_count} boot asks within "
                                  f"{self.settings.loop_guard_window_s:g} s in local mode: "
                                  "its card is not booting",
                           a, hot=True)
                self.loop_guard.forget(m.id)
            return LOCAL
        tftp = self.settings.tftp_server or "0.0.0.0"
        if a is not None and a.state in states.INSTALLING and a.result_status is None:
            if a.token is not None and a.expires_at > now:
                return {"66": tftp, "224": f"{base_url}/v1/install/{a.token}"}
            self._attempt_failed(tx, m, a, f"token expired in state {a.state}", hot=True)
            if m.boot_mode == "local":
                return LOCAL
        if m.attempts >= self.settings.max_attempts:
            m.boot_mode = "local"
            m.mode_changed_at = now
            self._flag(tx, m, f"attempt cap {self.settings.max_attempts} reached", None, hot=True)
            return LOCAL
        token = self._new_attempt(tx, m, a, now)
        return {"66": tftp, "224": f"{base_url}/v1/install/{token}"}

    def _identity_problems(self, m: Machine, q: OptionsQuery, others: list[Machine]) -> list[str]:
        problems: list[str] = []
        if q.mac and m.mac and q.mac != m.mac:
            problems.append(f"MAC {q.mac} asked on the port of {m.name}, whose MAC is {m.mac}")
        g = q.guid
        if g is not None:
            if m.mac and not g.matches_mac(m.mac):
                problems.append(f"option 97 MAC bytes {g.mac_lsb.hex() if g.mac_lsb else ''} do not match "
                                f"{m.name}'s MAC {m.mac}")
            if m.serial and not g.matches_serial(m.serial):
                problems.append(f"option 97 serial {'/'.join(g.serial_candidates())} is not {m.name}'s "
                                f"serial {m.serial}")
            elif m.serial is None and m.guid_serial and g.serial_raw is not None \
                    and g.serial_raw.hex() != m.guid_serial:
                problems.append(f"option 97 serial bytes {g.serial_raw.hex()} differ from those seen before "
                                f"({m.guid_serial})")
        problems += [f"the board of {o.name} asked on the port of {m.name}" for o in others]
        return problems

    def _learn_identity(self, tx: _Tx, m: Machine, q: OptionsQuery) -> None:
        if q.mac and m.mac is None:
            m.mac = q.mac
            self._touch(m)
            self._event(tx, m, "identity", f"MAC {q.mac} recorded from DHCP")
        g = q.guid
        if g is not None and g.serial_raw is not None and m.serial is None and m.guid_serial is None:
            m.guid_serial = g.serial_raw.hex()
            self._touch(m)
            self._event(tx, m, "identity", f"option-97 serial bytes {m.guid_serial} recorded")

    def _new_attempt(self, tx: _Tx, m: Machine, previous: Attempt | None, now: float) -> str:
        token = new_token()
        a = Attempt(machine_id=m.id, number=(previous.number if previous else 0) + 1, state="pending",
                    token_hash=token_hash(token), token=token, expires_at=now + self.settings.token_ttl_s,
                    created_at=now, updated_at=now)
        tx.session.add(a)
        tx.session.flush()
        m.current_attempt_id = a.id
        m.attempts += 1
        self._touch(m)
        self._event(tx, m, "attempt", f"attempt {a.number} started: install token issued", a)
        return token

    # -- the agent's API, by token ---------------------------------------------------------------------------
    def _resolve(self, tx: _Tx, token: str) -> tuple[Machine, Attempt]:
        if not well_formed(token):
            raise NotFound("unknown install token")
        row = tx.session.execute(
            select(Attempt, Machine).join(Machine, Machine.id == Attempt.machine_id)
            .where(Attempt.token_hash == token_hash(token))
        ).first()
        if row is None:
            raise NotFound("unknown install token")
        a, m = row
        if a.state in states.FINAL:
            why = f": {a.error}" if a.error else ""
            raise Gone(f"install attempt {a.number} of {m.name} is over ({a.state}{why})")
        if m.current_attempt_id != a.id:
            raise Gone(f"install attempt {a.number} of {m.name} was superseded")
        if a.expires_at <= self.clock():
            raise Gone(f"the install token of attempt {a.number} of {m.name} expired")
        return m, a

    def _reading(self, tx: _Tx, token: str) -> tuple[Machine, Attempt]:
        m, a = self._resolve(tx, token)
        if a.result_status is not None:
            raise Gone(f"install attempt {a.number} of {m.name} already reported its result; "
                       "only /booted is accepted")
        if m.install is None:
            raise Gone(f"{m.name} has no install scenario any more")
        return m, a

    def scenario(self, token: str, base_url: str, serial: str | None, mac: str | None) -> ScenarioOut:
        value, _ = self._run(lambda tx: self._scenario(tx, token, base_url, serial, mac))
        return value

    def _scenario(self, tx: _Tx, token: str, base_url: str, serial: str | None,
                  mac: str | None) -> ScenarioOut:
        m, a = self._reading(tx, token)
        problems: list[str] = []
        if serial and m.serial and serial != m.serial:
            problems.append(f"the installer reports serial {serial}, but {m.name}'s serial is {m.serial}")
        if serial and m.serial is None and m.guid_serial \
                and serial not in (m.guid_serial, bytes.fromhex(m.guid_serial)[::-1].hex()):
            problems.append(f"the installer reports serial {serial}, but option 97 said {m.guid_serial}")
        if mac and m.mac and mac != m.mac:
            problems.append(f"the installer reports MAC {mac}, but {m.name}'s MAC is {m.mac}")
        conds: list[ColumnElement[bool]] = []
        if serial:
            conds.append(Machine.serial == serial)
        if mac:
            conds.append(Machine.mac == mac)
        others = (list(tx.session.scalars(select(Machine).where(or_(*conds), Machine.id != m.id)))
                  if conds else [])
        problems += [f"the installer runs on the board of {o.name}" for o in others]
        if problems:
            reason = "; ".join(problems)
            self._flag(tx, m, reason, a, hot=False)
            for o in others:
                self._flag(tx, o, f"its board ran the installer of {m.name}", None, hot=False)
            raise _Refusal(Conflict(f"identity mismatch, install refused and {m.name} flagged: {reason}"))
        if serial and m.serial is None:
            m.serial = serial
            self._touch(m)
            self._event(tx, m, "identity", f"serial {serial} recorded from the installer", a)
        if mac and m.mac is None:
            m.mac = mac
            self._touch(m)
            self._event(tx, m, "identity", f"MAC {mac} recorded from the installer", a)
        if a.state == "pending":
            self._set_state(tx, m, a, "netbooting")
        elif a.state in ("writing", "verifying") and a.result_status is None:
            # the installer asks again for a scenario it was already writing: the board was reset or lost power
            # mid-install and netbooted again; the attempt starts over (its progress may go back to netbooting)
            self._set_state(tx, m, a, "netbooting", " (the installer started again: reset or power cut mid-install)")
        spec = m.install
        assert spec is not None
        url = f"{base_url}/v1/install/{token}"
        net = spec["network"]
        return ScenarioOut.model_validate({
            "machine": m.name, "attempt": a.number, "serial": m.serial, "mac": m.mac,
            "image": spec["image"], "hostname": spec["hostname"],
            "ssh_authorized_keys": spec.get("ssh_authorized_keys", []),
            "network": {"interface": net["interface"], "address": net["address"],
                        "gateway": net.get("gateway"), "dns": net.get("dns", [])},
            "netplan_url": f"{url}/netplan", "progress_url": f"{url}/progress", "result_url": f"{url}/result",
            "booted_url": f"{url}/booted",
        })

    def netplan(self, token: str) -> str:
        def tx_fn(tx: _Tx) -> str:
            m, _ = self._reading(tx, token)
            assert m.install is not None
            return netplan.render(m.install["network"])

        value, _ = self._run(tx_fn)
        return value

    def _set_state(self, tx: _Tx, m: Machine, a: Attempt, state: str, note: str = "") -> None:
        previous = a.state
        a.state = state
        a.updated_at = self.clock()
        self._event(tx, m, "state", f"attempt {a.number}: {previous} → {state}{note}", a)

    def _state_out(self, m: Machine, a: Attempt) -> AttemptStateOut:
        return AttemptStateOut.model_validate({"machine": m.name, "attempt": a.number, "state": a.state,
                                               "boot_mode": m.boot_mode, "error": a.error})

    def progress(self, token: str, body: ProgressIn) -> AttemptStateOut:
        def tx_fn(tx: _Tx) -> AttemptStateOut:
            m, a = self._resolve(tx, token)
            if a.result_status is not None:
                raise states.IllegalTransition(a.state, body.phase, "the result was already reported")
            states.check_progress(a.state, body.phase)
            if body.phase != a.state:
                self._set_state(tx, m, a, body.phase)
            now = self.clock()
            a.bytes_written = body.bytes_written
            a.bytes_total = body.bytes_total
            a.rate_bps = body.rate_bps
            a.updated_at = now
            a.expires_at = now + self.settings.token_ttl_s
            return self._state_out(m, a)

        value, _ = self._run(tx_fn)
        return value

    def result(self, token: str, body: ResultIn) -> AttemptStateOut:
        def tx_fn(tx: _Tx) -> AttemptStateOut:
            m, a = self._resolve(tx, token)
            states.check_result(a.state, body.status, a.result_status is not None)
            now = self.clock()
            a.updated_at = now
            a.expires_at = now + self.settings.token_ttl_s
            if body.bytes_written is not None:
                a.bytes_written = body.bytes_written
            a.result_sha256 = body.sha256.lower() if body.sha256 else None
            error = body.error or "the installer reported a failure without a message"
            if body.status == "success":
                assert m.install is not None
                image = m.install["image"]
                if a.result_sha256 != image["sha256"]:
                    error = (f"verification failed: sha256 {a.result_sha256} is not the expected "
                             f"{image['sha256']}")
                elif body.bytes_written is not None and body.bytes_written != image["size"]:
                    error = (f"verification failed: {body.bytes_written} bytes written, "
                             f"expected {image['size']}")
                else:
                    a.result_status = "success"
                    a.token = None
                    if a.state != "configured":
                        self._set_state(tx, m, a, "configured", " (verified)")
                    m.boot_mode = "local"
                    m.mode_changed_at = now
                    self._touch(m)
                    self._event(tx, m, "installed", f"attempt {a.number} verified; boot mode → local", a)
                    tx.flush_later.append(_port(m))
                    return self._state_out(m, a)
            a.result_status = "failure"
            self._attempt_failed(tx, m, a, error, hot=False)
            return self._state_out(m, a)

        value, _ = self._run(tx_fn)
        return value

    def booted(self, token: str) -> AttemptStateOut:
        def tx_fn(tx: _Tx) -> AttemptStateOut:
            m, a = self._resolve(tx, token)
            states.check_booted(a.state, a.result_status)
            self._set_state(tx, m, a, "booted-ok")
            a.finished_at = self.clock()
            return self._state_out(m, a)

        value, _ = self._run(tx_fn)
        return value

    # -- admin -----------------------------------------------------------------------------------------------
    def _machine_out(self, m: Machine, a: Attempt | None) -> MachineOut:
        last = None
        if a is not None:
            last = AttemptOut.model_validate({
                "number": a.number, "state": a.state, "created_at": a.created_at, "updated_at": a.updated_at,
                "finished_at": a.finished_at, "expires_at": a.expires_at, "bytes_written": a.bytes_written,
                "bytes_total": a.bytes_total, "rate_bps": a.rate_bps, "result_status": a.result_status,
                "error": a.error})
        return MachineOut.model_validate({
            "name": m.name, "sub82_1": m.sub82_1, "sub82_2": m.sub82_2, "sub82_9": m.sub82_9, "mac": m.mac,
            "serial": m.serial, "boot_mode": m.boot_mode, "flagged": m.flagged, "flag_reason": m.flag_reason,
            "attempts": m.attempts, "install": m.install, "last_attempt": last, "created_at": m.created_at,
            "updated_at": m.updated_at})

    def _get(self, tx: _Tx, name: str) -> tuple[Machine, Attempt | None]:
        row = tx.session.execute(
            select(Machine, Attempt).outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
            .where(Machine.name == name)
        ).first()
        if row is None:
            raise NotFound(f"no machine named {name!r}")
        return row[0], row[1]

    def list_machines(self) -> list[MachineOut]:
        def tx_fn(tx: _Tx) -> list[MachineOut]:
            rows = tx.session.execute(
                select(Machine, Attempt).outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
                .order_by(Machine.name)
            ).all()
            return [self._machine_out(m, a) for m, a in rows]

        value, _ = self._run(tx_fn)
        return value

    def get_machine(self, name: str) -> MachineOut:
        value, _ = self._run(lambda tx: self._machine_out(*self._get(tx, name)))
        return value

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
        for o in tx.session.scalars(stmt):
            if o.port_key == key:
                raise Conflict(f"that switch port already belongs to {o.name}")
            if spec.mac and o.mac == spec.mac:
                raise Conflict(f"MAC {spec.mac} already belongs to {o.name}")
            raise Conflict(f"serial {spec.serial} already belongs to {o.name}")

    @staticmethod
    def _definition(spec: MachineIn) -> dict[str, Any]:
        return {"sub82_1": spec.sub82_1, "sub82_2": spec.sub82_2, "sub82_9": spec.sub82_9,
                "port_key": port_key(spec.sub82_1, spec.sub82_2, spec.sub82_9), "mac": spec.mac,
                "serial": spec.serial, "boot_mode": spec.boot_mode,
                "install": spec.install.model_dump(mode="json") if spec.install else None}

    def _create(self, tx: _Tx, spec: MachineIn) -> Machine:
        if tx.session.scalar(select(Machine.id).where(Machine.name == spec.name)) is not None:
            raise Conflict(f"machine {spec.name!r} exists; PUT /v1/admin/machines/{spec.name} redefines it")
        self._check_unique(tx, spec, None)
        now = self.clock()
        m = Machine(name=spec.name, flagged=False, attempts=0, mode_changed_at=now, created_at=now,
                    updated_at=now, **self._definition(spec))
        tx.session.add(m)
        tx.session.flush()
        self._event(tx, m, "added", f"added ({spec.boot_mode})")
        return m

    def _upsert(self, tx: _Tx, spec: MachineIn) -> tuple[Machine, Attempt | None, bool]:
        """Create or redefine; returns (machine, attempt, created). A changed definition cancels a running
        install, clears the flag and the attempt count."""
        row = tx.session.execute(
            select(Machine, Attempt).outerjoin(Attempt, Attempt.id == Machine.current_attempt_id)
            .where(Machine.name == spec.name)
        ).first()
        if row is None:
            return self._create(tx, spec), None, True
        m, a = row
        new = self._definition(spec)
        changed = sorted(k for k, v in new.items() if getattr(m, k) != v)
        if not changed:
            return m, a, False
        self._check_unique(tx, spec, m.id)
        if a is not None and a.state not in states.FINAL and a.result_status is None:
            self._end_attempt(tx, m, a, "cancelled: machine redefined")
        old_port = _port(m)
        for k, v in new.items():
            setattr(m, k, v)
        m.flagged = False
        m.flag_reason = None
        m.attempts = 0
        m.mode_changed_at = self.clock()
        self._touch(m)
        self.loop_guard.forget(m.id)
        self._event(tx, m, "redefined", f"redefined: {', '.join(changed)} changed")
        tx.flush_now.append(old_port)
        if _port(m) != old_port:
            tx.flush_now.append(_port(m))
        return m, a, False

    def add(self, spec: MachineIn) -> MachineOut:
        value, _ = self._run(lambda tx: self._machine_out(self._create(tx, spec), None))
        return value

    def put(self, spec: MachineIn) -> tuple[MachineOut, bool]:
        def tx_fn(tx: _Tx) -> tuple[MachineOut, bool]:
            m, a, created = self._upsert(tx, spec)
            return self._machine_out(m, a), created

        value, _ = self._run(tx_fn)
        return value

    def import_machines(self, specs: list[MachineIn]) -> ImportOut:
        names = [s.name for s in specs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise Conflict(f"the import names these machines more than once: {', '.join(dup)}")

        def tx_fn(tx: _Tx) -> ImportOut:
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

        value, _ = self._run(tx_fn)
        return value

    def reinstall(self, name: str) -> ActionOut:
        def tx_fn(tx: _Tx) -> MachineOut:
            m, a = self._get(tx, name)
            if m.install is None:
                raise Conflict(f"{name} has no install scenario; redefine it with one first")
            if a is not None and a.state not in states.FINAL and a.result_status is None:
                self._end_attempt(tx, m, a, "cancelled by reinstall")
            m.boot_mode = "install"
            m.flagged = False
            m.flag_reason = None
            m.attempts = 0
            m.mode_changed_at = self.clock()
            self._touch(m)
            self.loop_guard.forget(m.id)
            self._event(tx, m, "reinstall", "reinstall requested: boot mode → install")
            tx.flush_now.append(_port(m))
            return self._machine_out(m, a)

        value, flushes = self._run(tx_fn)
        return ActionOut(machine=value, kea_flush=flushes[0] if flushes else "disabled")

    def set_local(self, name: str) -> ActionOut:
        def tx_fn(tx: _Tx) -> MachineOut:
            m, a = self._get(tx, name)
            if a is not None and a.state not in states.FINAL and a.result_status is None:
                self._end_attempt(tx, m, a, "cancelled by set-local")
            m.boot_mode = "local"
            m.flagged = False
            m.flag_reason = None
            m.mode_changed_at = self.clock()
            self._touch(m)
            self.loop_guard.forget(m.id)
            self._event(tx, m, "set-local", "set-local requested: boot mode → local")
            tx.flush_now.append(_port(m))
            return self._machine_out(m, a)

        value, flushes = self._run(tx_fn)
        return ActionOut(machine=value, kea_flush=flushes[0] if flushes else "disabled")

    def history(self, name: str, limit: int = 200) -> HistoryOut:
        def tx_fn(tx: _Tx) -> HistoryOut:
            m, _ = self._get(tx, name)
            rows = tx.session.execute(
                select(Event, Attempt.number).outerjoin(Attempt, Attempt.id == Event.attempt_id)
                .where(Event.machine_id == m.id).order_by(Event.id.desc()).limit(limit)
            ).all()
            events = [EventOut(id=e.id, at=e.at, kind=e.kind, attempt=n, message=e.message, data=e.data)
                      for e, n in reversed(rows)]
            return HistoryOut(machine=m.name, events=events)

        value, _ = self._run(tx_fn)
        return value
