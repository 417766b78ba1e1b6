"""Login: user passwords and external subjects, device-flow requests, refresh tokens, web sessions.

Revision ID: hub0002_login
Revises: hub0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0002_login"
down_revision = "hub0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.Text()))
        batch.add_column(sa.Column("subject", sa.String(255)))
        batch.create_unique_constraint("uq_users_subject", ["subject"])
    op.create_table(
        "device_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("device_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("user_code", sa.String(16), nullable=False, unique=True),
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("last_poll_at", sa.Float()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float()),
        sa.Column("revoked_at", sa.Float()),
    )
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family"])
    op.create_table(
        "web_sessions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_index("ix_refresh_tokens_family", "refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("device_requests")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_subject", type_="unique")
        batch.drop_column("subject")
        batch.drop_column("password_hash")
