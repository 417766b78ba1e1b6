"""Quotas: a Station's own limits on pending jobs, running jobs and bytes stored (null: the hub's
defaults), and the size of a job's stored results, which counts toward the bytes.

Revision ID: hub0010_quotas
Revises: hub0008_attempts
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0010_quotas"
down_revision = "hub0009_rate_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("quota_pending", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("quota_running", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("quota_bytes", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("hub_jobs") as batch:
        batch.add_column(sa.Column("results_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hub_jobs") as batch:
        batch.drop_column("results_bytes")
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("quota_bytes")
        batch.drop_column("quota_running")
        batch.drop_column("quota_pending")
