"""the switch port's subnet of each machine: install tokens work only for requests from it (issue 13)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Existing machines get the network of their install scenario's address (the default of a new definition);
machines without a scenario keep none and cannot install until redefined with one.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _subnet(install: Any) -> str | None:
    if isinstance(install, str):
        install = json.loads(install)
    try:
        return str(ipaddress.IPv4Interface(install["network"]["address"]).network)
    except (TypeError, KeyError, ValueError):
        return None


def upgrade() -> None:
    op.add_column("machines", sa.Column("subnet", sa.String(length=43), nullable=True))
    machines = sa.table("machines", sa.column("id", sa.Integer()), sa.column("install", sa.JSON()),
                        sa.column("subnet", sa.String()))
    bind = op.get_bind()
    for row in bind.execute(sa.select(machines.c.id, machines.c.install)).all():
        subnet = _subnet(row.install)
        if subnet is not None:
            bind.execute(machines.update().where(machines.c.id == row.id).values(subnet=subnet))


def downgrade() -> None:
    op.drop_column("machines", "subnet")
