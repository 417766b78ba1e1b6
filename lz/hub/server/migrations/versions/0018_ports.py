"""Interactive ports (issue 26): ``hub_port_tunnels``, the connections users wait for to the ports
of running jobs, so a landing zone's long poll hears of them on any hub process.

Revision ID: hub0018_ports
Revises: hub0017_usage
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0018_ports"
down_revision = "hub0017_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_port_tunnels",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("lz_id", sa.Integer(), sa.ForeignKey("landing_zones.id", ondelete="CASCADE"), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("handed_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_hub_port_tunnels_lz_id", "hub_port_tunnels", ["lz_id"])


def downgrade() -> None:
    op.drop_index("ix_hub_port_tunnels_lz_id", table_name="hub_port_tunnels")
    op.drop_table("hub_port_tunnels")
