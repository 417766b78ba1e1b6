"""What a submission's quota check counts, from indexes of just those rows: a user's waiting and
leased jobs (``submitter_id, phase``) and, for a Station and for a user, the jobs that keep bytes
(partial indexes on ``bundle <> '' OR results IS NOT NULL``). Before, each submission summed over
every job the Station and the submitter ever ran (a million rows: a second a submission).

Revision ID: hub0022_quota_use
Revises: hub0021_job_sorts
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0022_quota_use"
down_revision = "hub0021_job_sorts"
branch_labels = None
depends_on = None

KEEPS_BYTES = "bundle <> '' OR results IS NOT NULL"  # as lz.hub.server.models.KEEPS_BYTES, frozen here


def upgrade() -> None:
    op.create_index("ix_hub_jobs_submitter_phase", "hub_jobs", ["submitter_id", "phase"])
    for name, column in (("ix_hub_jobs_kept_station", "station_id"), ("ix_hub_jobs_kept_submitter", "submitter_id")):
        op.create_index(name, "hub_jobs", [column], sqlite_where=sa.text(KEEPS_BYTES),
                        postgresql_where=sa.text(KEEPS_BYTES))


def downgrade() -> None:
    for name in ("ix_hub_jobs_kept_submitter", "ix_hub_jobs_kept_station", "ix_hub_jobs_submitter_phase"):
        op.drop_index(name, table_name="hub_jobs")
