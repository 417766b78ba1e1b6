"""Jobs, their transition log, and the landing zone's status.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("reason", sa.Text()),
        sa.Column("exit_code", sa.Integer()),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("work_dir", sa.Text()),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float()),
        sa.Column("ended_at", sa.Float()),
        sa.Column("executor", sa.String(16)),
        sa.Column("executor_id", sa.String(64)),
        sa.Column("submit_attempted_at", sa.Float()),
        sa.Column("native_state", sa.String(32)),
        sa.Column("pending_reason", sa.Text()),
        sa.Column("absent_since", sa.Float()),
        sa.Column("cpu_seconds", sa.Float()),
        sa.Column("max_rss_bytes", sa.Integer()),
        sa.Column("results_at", sa.Float()),
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_table(
        "transitions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text()),
    )
    op.create_index("ix_transitions_job_id_id", "transitions", ["job_id", "id"])
    op.create_table(
        "lz_status",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text()),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lz_status")
    op.drop_index("ix_transitions_job_id_id", table_name="transitions")
    op.drop_table("transitions")
    op.drop_index("ix_jobs_state", table_name="jobs")
    op.drop_table("jobs")
