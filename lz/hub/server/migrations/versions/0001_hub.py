"""The hub: users, tokens, Stations, landing zones, jobs and their events.

Revision ID: hub0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float()),
        sa.Column("revoked_at", sa.Float()),
        sa.Column("last_used_at", sa.Float()),
    )
    op.create_index("ix_tokens_user_id", "tokens", ["user_id"])
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "station_members",
        sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("added_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "landing_zones",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("registered_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float()),
        sa.Column("version", sa.String(32)),
        sa.Column("executor", sa.String(16)),
        sa.Column("runtime", sa.String(16)),
        sa.Column("cpus", sa.Integer()),
        sa.Column("gpus", sa.Integer()),
        sa.Column("memory_mb", sa.Integer()),
        sa.Column("os", sa.String(32)),
        sa.Column("arch", sa.String(32)),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("max_running", sa.Integer(), nullable=False),
        sa.Column("queue_length", sa.Integer(), nullable=False),
    )
    op.create_table(
        "station_zones",
        sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("lz_id", sa.Integer(), sa.ForeignKey("landing_zones.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("added_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "hub_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("station_id", sa.Integer(), sa.ForeignKey("stations.id"), nullable=False),
        sa.Column("submitter_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("submit_key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("bundle", sa.Text(), nullable=False),
        sa.Column("bundle_bytes", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.Integer(), sa.ForeignKey("landing_zones.id")),
        sa.Column("lease_expires", sa.Float()),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("ran_on", sa.Integer(), sa.ForeignKey("landing_zones.id")),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("reason", sa.Text()),
        sa.Column("exit_code", sa.Integer()),
        sa.Column("executor", sa.String(16)),
        sa.Column("executor_id", sa.String(64)),
        sa.Column("native_state", sa.String(32)),
        sa.Column("pending_reason", sa.Text()),
        sa.Column("started_at", sa.Float()),
        sa.Column("ended_at", sa.Float()),
        sa.Column("cpu_seconds", sa.Float()),
        sa.Column("max_rss_bytes", sa.Integer()),
        sa.Column("results", sa.Text()),
        sa.Column("results_attempt", sa.Integer()),
        sa.Column("results_at", sa.Float()),
        sa.Column("downloaded_at", sa.Float()),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("submitter_id", "submit_key", name="uq_hub_jobs_submit_key"),
    )
    op.create_index("ix_hub_jobs_claim", "hub_jobs", ["phase", "station_id", "created_at"])
    op.create_table(
        "hub_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("hub_jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer()),
        sa.Column("lz_id", sa.Integer(), sa.ForeignKey("landing_zones.id")),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.UniqueConstraint("job_id", "attempt", "seq", name="uq_hub_events_seq"),
    )
    op.create_index("ix_hub_events_job", "hub_events", ["job_id", "id"])


def downgrade() -> None:
    for table in ("hub_events", "hub_jobs", "station_zones", "landing_zones", "station_members", "stations",
                  "tokens", "users"):
        op.drop_table(table)
