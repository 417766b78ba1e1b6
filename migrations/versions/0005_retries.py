"""Retries: a job's current attempt (committed before its submission), when it may be submitted
again (back-off) and the record of its earlier attempts (JSON).

Revision ID: 0005_retries
Revises: 0004_jobs_created_index
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_retries"
down_revision = "0004_jobs_created_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("retry_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("attempts")
        batch.drop_column("retry_at")
        batch.drop_column("attempt")
