"""Alembic migrations on SQLite and PostgreSQL: they build exactly the schema of the models, and go back."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from backend import migrate
from backend.db import Database
from backend.models import Base


def test_upgrade_matches_models_and_downgrades(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert migrate.current(db.engine) is None
        assert migrate.upgrade(db.engine) == migrate.head()
        assert migrate.upgrade(db.engine) == migrate.head()  # idempotent
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []
        assert set(inspect(db.engine).get_table_names()) >= {"machines", "attempts", "events"}
        assert migrate.downgrade(db.engine, "base") == ""
        assert not {"machines", "attempts", "events"} & set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/wal.db")
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()
