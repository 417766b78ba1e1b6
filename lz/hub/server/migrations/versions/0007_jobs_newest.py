"""Newest jobs first without sorting them all: an index on (created_at, id), read backwards by
the web page's job lists (``jobs.recent``), and forwards by the API's.

Revision ID: hub0007_jobs_newest
Revises: hub0006_pilot_group
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "hub0007_jobs_newest"
down_revision = "hub0006_pilot_group"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_hub_jobs_created", "hub_jobs", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_hub_jobs_created", table_name="hub_jobs")
