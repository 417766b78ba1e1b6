"""Notifications (issue 26): what jobs sent through ``$LZ_NOTIFY``, how each user gets a
Station's notifications and job ends (web, e-mail, webhook), the deliveries still to send, and
the finished jobs whose end was handed out.

Revision ID: hub0014_notifications
Revises: hub0011_tokens
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0014_notifications"
down_revision = "hub0011_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_notifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("hub_jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=True),
        sa.UniqueConstraint("job_id", "attempt", "seq", name="uq_job_notifications_seq"),
    )
    op.create_index("ix_job_notifications_job", "job_notifications", ["job_id", "id"])
    op.create_table(
        "notification_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(2048), nullable=True),
        sa.Column("secret", sa.String(128), nullable=True),
        sa.Column("events", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_notification_subscriptions_station_user", "notification_subscriptions",
                    ["station_id", "user_id"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.Integer(),
                  sa.ForeignKey("notification_subscriptions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_notification_deliveries_due", "notification_deliveries", ["state", "next_try_at"])
    op.create_table(
        "notified_job_ends",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("hub_jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notified_job_ends")
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_index("ix_notification_subscriptions_station_user", table_name="notification_subscriptions")
    op.drop_table("notification_subscriptions")
    op.drop_index("ix_job_notifications_job", table_name="job_notifications")
    op.drop_table("job_notifications")
