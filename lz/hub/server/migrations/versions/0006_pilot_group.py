"""Pilots grouped by their SLURM job: the array's job id (or a lone pilot's own) and when the
allocation ends, so the hub's page can show each array with the time its pilots have left.

Revision ID: hub0006_pilot_group
Revises: hub0005_control
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0006_pilot_group"
down_revision = "hub0005_control"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("landing_zones") as batch:
        batch.add_column(sa.Column("pilot_group", sa.String(64), nullable=True))
        batch.add_column(sa.Column("ends_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("landing_zones") as batch:
        batch.drop_column("ends_at")
        batch.drop_column("pilot_group")
