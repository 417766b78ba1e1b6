"""Job control through the hub: the latest stop/kill/pause/resume request of a job, who asked,
and a sequence number the holding landing zone compares with what it already carried out.

Revision ID: hub0005_control
Revises: hub0004_pilots
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0005_control"
down_revision = "hub0004_pilots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_jobs") as batch:
        batch.add_column(sa.Column("control", sa.String(16), nullable=True))
        batch.add_column(sa.Column("control_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("control_seq", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("hub_jobs") as batch:
        batch.drop_column("control_seq")
        batch.drop_column("control_by")
        batch.drop_column("control")
