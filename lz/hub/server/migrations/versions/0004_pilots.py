"""Pilots: a landing zone that drained says it is offline.

Revision ID: hub0004_pilots
Revises: hub0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0004_pilots"
down_revision = "hub0003_stations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("landing_zones") as batch:
        batch.add_column(sa.Column("offline_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("landing_zones") as batch:
        batch.drop_column("offline_at")
