"""board leases shared by the harnesses of every CI host: board_leases

Revision ID: 0003
Revises: 0002
Create Date: 2025-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_leases",
        sa.Column("lab", sa.String(length=63), nullable=False),
        sa.Column("board", sa.String(length=63), nullable=False),
        sa.Column("lease_id", sa.String(length=32), nullable=True),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("since", sa.Float(), nullable=True),
        sa.Column("expires", sa.Float(), nullable=True),
        sa.Column("ttl", sa.Float(), nullable=True),
        sa.Column("quarantine_reason", sa.Text(), nullable=True),
        sa.Column("quarantine_run", sa.String(length=64), nullable=True),
        sa.Column("health", sa.String(length=7), nullable=False),
        sa.Column("health_at", sa.Float(), nullable=True),
        sa.Column("health_evidence", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("lab", "board"),
        sa.UniqueConstraint("lease_id"),
    )


def downgrade() -> None:
    op.drop_table("board_leases")
