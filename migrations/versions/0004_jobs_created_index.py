"""An index on jobs (created_at, id): ``lz status --since`` and the newest-first listing of
``lz status -N`` / ``lz cancel --name`` read it instead of scanning and sorting every job.

Revision ID: 0004_jobs_created_index
Revises: 0003_job_control
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0004_jobs_created_index"
down_revision = "0003_job_control"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_created", "jobs", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_created", table_name="jobs")
