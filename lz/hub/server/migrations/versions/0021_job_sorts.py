"""The job list's sorts by name and by state (the web Jobs tab's column headings, the API's
``order=name|state``), each keyset-paged on an index of its own, as newest and oldest are.

Revision ID: hub0021_job_sorts
Revises: hub0018_ports
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "hub0021_job_sorts"
down_revision = "hub0018_ports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_hub_jobs_by_name", "hub_jobs", ["name", "created_at", "id"])
    op.create_index("ix_hub_jobs_by_state", "hub_jobs", ["state", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_hub_jobs_by_state", table_name="hub_jobs")
    op.drop_index("ix_hub_jobs_by_name", table_name="hub_jobs")
