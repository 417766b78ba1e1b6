"""Job control: a pending stop/kill/pause/resume request (intent, persisted before the signal) and
the time a job spent paused (not counted toward its time limit).

Revision ID: 0003_job_control
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_job_control"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("control", sa.String(16)),
    ("control_by", sa.String(160)),
    ("control_at", sa.Float()),
    ("paused_at", sa.Float()),
    ("paused_s", sa.Float()),
)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name, kind in _COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
