"""machines.boot_local_method: a machine's own boot-local method (issue 19); NULL = the lab's setting

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column: every existing machine keeps following the lab's setting.
    op.add_column("machines", sa.Column("boot_local_method", sa.String(length=24), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35 has it): a batch copy of the table would drop and re-create
    # ``machines``, and with foreign keys on that cascades to attempts and events.
    op.drop_column("machines", "boot_local_method")
