"""Rate limits and sign-in lockouts shared by every hub process: ``hub_rate_limits``, one row per
counter (a client address per endpoint, a user's failed passwords).

Revision ID: hub0009_rate_limits
Revises: hub0008_attempts
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0009_rate_limits"
down_revision = "hub0008_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_rate_limits",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.Float(), nullable=True),
        sa.Column("lock_s", sa.Float(), nullable=False),
        sa.Column("strikes", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_hub_rate_limits_seen_at", "hub_rate_limits", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_hub_rate_limits_seen_at", table_name="hub_rate_limits")
    op.drop_table("hub_rate_limits")
