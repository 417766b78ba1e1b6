"""Bounded attempts: a Station's and a job's ``max_attempts``, a job's ``failures`` so far, and
``hub_attempts``, one row per attempt (landing zone, claimed, ended, why).

Revision ID: hub0008_attempts
Revises: hub0007_jobs_newest
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0008_attempts"
down_revision = "hub0007_jobs_newest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3"))
    with op.batch_alter_table("hub_jobs") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="3"))
    op.create_table(
        "hub_attempts",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("hub_jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("lz_id", sa.Integer(), sa.ForeignKey("landing_zones.id", ondelete="SET NULL"), nullable=True),
        sa.Column("claimed_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("ended", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("hub_attempts")
    with op.batch_alter_table("hub_jobs") as batch:
        batch.drop_column("max_attempts")
        batch.drop_column("failures")
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("max_attempts")
