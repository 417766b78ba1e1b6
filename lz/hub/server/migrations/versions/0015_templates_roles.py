"""Role permissions and job templates (issue 26): custom roles per Station (their flags), job
templates per Station, and the old ``member`` role renamed ``contributor`` (what a member could
do is what a contributor does: submit, see and control the Station's jobs; it may now also add
landing zones it owns). Owners and admins keep their names.

Revision ID: hub0015_templates_roles
Revises: hub0014_notifications
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0015_templates_roles"
down_revision = "hub0014_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_roles",
        sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "station_templates",
        sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    for table in ("station_members", "station_invitations"):
        op.execute(sa.text(f"UPDATE {table} SET role = 'contributor' WHERE role = 'member'"))


def downgrade() -> None:
    for table in ("station_members", "station_invitations"):
        op.execute(sa.text(f"UPDATE {table} SET role = 'member' WHERE role NOT IN ('owner', 'admin')"))
    op.drop_table("station_templates")
    op.drop_table("station_roles")
