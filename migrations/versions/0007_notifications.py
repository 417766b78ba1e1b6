"""Notifications from jobs (``$LZ_NOTIFY``), and the cursor of those told to a hub per claim.

Revision ID: 0007_notifications
Revises: 0005_retries
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_notifications"
down_revision = "0005_retries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_notifications_job", "notifications", ["job_id", "id"])
    with op.batch_alter_table("hub_claims") as batch:
        batch.add_column(sa.Column("notified_seq", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("hub_claims") as batch:
        batch.drop_column("notified_seq")
    op.drop_index("ix_notifications_job", table_name="notifications")
    op.drop_table("notifications")
