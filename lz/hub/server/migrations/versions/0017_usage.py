"""Usage and credits (issue 26): ``job_usage`` (each attempt's monotonic totals and charge),
``usage_days`` (the same per UTC day, what sums are read from) and ``credit_rules`` (prices and
credit limits per Station, role and user, in milli-credits).

Revision ID: hub0017_usage
Revises: hub0016_retries
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0017_usage"
down_revision = "hub0016_retries"
branch_labels = None
depends_on = None


def _owners() -> list[sa.Column]:
    return [sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id", ondelete="CASCADE"), nullable=False),
            sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
            sa.Column("lz_id", sa.Integer(), sa.ForeignKey("landing_zones.id", ondelete="SET NULL"), nullable=True)]


def _amounts() -> list[sa.Column]:
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in ("cpu_s", "mem_mib_s", "gpu_s", "credits_mc")]


def upgrade() -> None:
    op.create_table(
        "job_usage",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        *_owners(),
        sa.Column("wall_s", sa.BigInteger(), nullable=False),
        *_amounts(),
        sa.Column("warned_at", sa.Float(), nullable=True),
        sa.Column("stopped_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_job_usage_station_user", "job_usage", ["station_id", "user_id"])
    op.create_table(
        "usage_days",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        *_owners(),
        *_amounts(),
    )
    op.create_index("ix_usage_days_station_day", "usage_days", ["station_id", "day"])
    op.create_index("ix_usage_days_day", "usage_days", ["day"])
    op.create_table(
        "credit_rules",
        sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("subject", sa.String(64), primary_key=True),
        sa.Column("cpu_hour_mc", sa.BigInteger(), nullable=True),
        sa.Column("mem_gib_hour_mc", sa.BigInteger(), nullable=True),
        sa.Column("gpu_hour_mc", sa.BigInteger(), nullable=True),
        sa.Column("limit_mc", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credit_rules")
    op.drop_index("ix_usage_days_day", "usage_days")
    op.drop_index("ix_usage_days_station_day", "usage_days")
    op.drop_table("usage_days")
    op.drop_index("ix_job_usage_station_user", "job_usage")
    op.drop_table("job_usage")
