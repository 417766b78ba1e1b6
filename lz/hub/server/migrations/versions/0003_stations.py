"""Station invitations (roles owner, admin, member live in station_members already) and volumes.

Revision ID: hub0003_stations
Revises: hub0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0003_stations"
down_revision = "hub0002_login"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_invitations",
        sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("invited_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "station_volumes",
        sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("mount", sa.String(255), nullable=False),
        sa.Column("access", sa.String(2), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "volume_mappings",
        sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("lz_id", sa.Integer(), sa.ForeignKey("landing_zones.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("host_path", sa.String(1024), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("volume_mappings")
    op.drop_table("station_volumes")
    op.drop_table("station_invitations")
