"""Jobs claimed from a hub: the landing zone's outbox of reports and results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_claims",
        sa.Column("hub_job_id", sa.String(32), primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("hub_url", sa.Text(), nullable=False),
        sa.Column("local_job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="SET NULL")),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("reported_seq", sa.Integer(), nullable=False),
        sa.Column("lease_lost", sa.Boolean(), nullable=False),
        sa.Column("cancel_applied", sa.Boolean(), nullable=False),
        sa.Column("claimed_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_claims")
