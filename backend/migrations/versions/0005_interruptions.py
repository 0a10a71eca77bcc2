"""machines.interruptions: installs that started over mid-write since the last add/reinstall (issue 18.6)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NOT NULL with a server default of 0: existing machines start with no interruption counted.
    op.add_column("machines", sa.Column("interruptions", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite ≥ 3.35), as 0002: a batch copy of ``machines`` would cascade to its children.
    op.drop_column("machines", "interruptions")
