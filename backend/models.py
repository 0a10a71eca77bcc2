"""Database tables (SQLAlchemy 2). The schema is created by the Alembic migrations in backend/migrations;
a test checks that the migrations and these models agree.

Times are UNIX seconds (float) so that SQLite and PostgreSQL store and compare them the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Machine(Base):
    """A board, identified by the switch port it is plugged into."""

    __tablename__ = "machines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    sub82_1: Mapped[str] = mapped_column(String(510))
    sub82_2: Mapped[str] = mapped_column(String(510))
    sub82_9: Mapped[str] = mapped_column(String(510))  # "" when the switch sends none
    port_key: Mapped[str] = mapped_column(String(1540), unique=True)
    mac: Mapped[str | None] = mapped_column(String(17), unique=True)
    serial: Mapped[str | None] = mapped_column(String(8), unique=True)
    guid_serial: Mapped[str | None] = mapped_column(String(8))  # option-97 serial bytes, wire order
    # the switch port's subnet (e.g. 10.90.1.0/24): an install token works only for requests from it
    subnet: Mapped[str | None] = mapped_column(String(43))
    boot_mode: Mapped[str] = mapped_column(String(7))  # install | local
    # how a boot-local answer keeps the board off the installer (decision.METHODS); None: the lab's setting
    boot_local_method: Mapped[str | None] = mapped_column(String(24))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(Text)
    install: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # started since the last add/reinstall
    # installs that started over mid-write (power cut or reset) since the last add/reinstall (issue 18.6)
    interruptions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    current_attempt_id: Mapped[int | None] = mapped_column(Integer)  # the latest attempt (no FK: a cycle)
    mode_changed_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class Attempt(Base):
    """One install attempt and its token."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token itself is kept only while DHCP may still hand it out again (cleared when the install ends).
    token: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    bytes_written: Mapped[int | None] = mapped_column(BigInteger)
    bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    rate_bps: Mapped[float | None] = mapped_column(Float)
    result_status: Mapped[str | None] = mapped_column(String(7))
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class Event(Base):
    """The history of a machine: admin actions, tokens, state changes, flags."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"))
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id", ondelete="SET NULL"))
    at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_events_machine_id_id", "machine_id", "id"),)


class BoardLease(Base):
    """A board of a lab as the harnesses of every CI host share it (``backend.leases``): who holds it until
    when, whether a run quarantined it, and its last health check. One row per (lab, board), created on the first
    lease; the row is the lock (PostgreSQL: ``SELECT ... FOR UPDATE``), so no board is ever held twice."""

    __tablename__ = "board_leases"

    lab: Mapped[str] = mapped_column(String(63), primary_key=True)
    board: Mapped[str] = mapped_column(String(63), primary_key=True)
    lease_id: Mapped[str | None] = mapped_column(String(32), unique=True)  # one per acquisition; None = free
    owner: Mapped[str | None] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    since: Mapped[float | None] = mapped_column(Float)
    expires: Mapped[float | None] = mapped_column(Float)
    ttl: Mapped[float | None] = mapped_column(Float)
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    quarantine_run: Mapped[str | None] = mapped_column(String(64))
    health: Mapped[str] = mapped_column(String(7))  # ok | bad | unknown
    health_at: Mapped[float | None] = mapped_column(Float)
    health_evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)
