"""The tables, as SQLAlchemy Core (no ORM: the store works on rows and snapshots, and the CLI
starts faster without it). Times are UNIX seconds (float, UTC) so every process agrees."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

jobs = Table(
    "jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("outcome", String(16)),
    Column("reason", Text),
    Column("exit_code", Integer),
    Column("source", String(32), nullable=False),
    Column("spec", Text, nullable=False),  # JobSpec as JSON, resources included
    Column("work_dir", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("executor", String(16)),
    Column("executor_id", String(64)),
    Column("submit_attempted_at", Float),
    Column("native_state", String(32)),
    Column("pending_reason", Text),
    Column("absent_since", Float),
    Column("cpu_seconds", Float),
    Column("max_rss_bytes", Integer),
    Column("results_at", Float),
    Column("control", String(16)),
    Column("control_by", String(160)),
    Column("control_at", Float),
    Column("paused_at", Float),
    Column("paused_s", Float),
    Column("attempt", Integer, nullable=False, default=1, server_default="1"),
    Column("retry_at", Float),
    Column("attempts", Text),
    Index("ix_jobs_created", "created_at", "id"),
)
"""One job and everything known about it; its state changes are logged in ``transitions``."""

transitions = Table(
    "transitions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("event", String(32), nullable=False),
    Column("at", Float, nullable=False),
    Column("detail", Text),
    Index("ix_transitions_job_id_id", "job_id", "id"),
)
"""Append-only history: one row per state change (or accepted internal event)."""

lz_status = Table(
    "lz_status", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text),
    Column("updated_at", Float, nullable=False),
)
"""Facts about the landing zone itself (``lz.core.zone.LandingZoneStatus``), one JSON value per key."""

hub_claims = Table(
    "hub_claims", metadata,
    Column("hub_job_id", String(32), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("hub_url", Text, nullable=False),
    Column("local_job_id", String(32), ForeignKey("jobs.id", ondelete="SET NULL")),
    Column("name", String(128), nullable=False),
    Column("spec", Text, nullable=False),
    Column("reported_seq", Integer, nullable=False, default=0),
    Column("lease_lost", Boolean, nullable=False, default=False),
    Column("cancel_applied", Boolean, nullable=False, default=False),
    Column("claimed_at", Float, nullable=False),
    Column("notified_seq", Integer, nullable=False, default=0, server_default="0"),  # 0007
)
"""A job this landing zone claimed from a hub (``lz.hub.agent.agent``): the outbox of its reports.

Written before the bundle is fetched (intent), linked to the local job once intake stored it (its
``source`` is ``hub:<job>:<attempt>``), and deleted once the hub acknowledged the results.
``reported_seq`` is the last ``transitions.id`` the hub acknowledged for it, ``notified_seq`` the
last ``notifications.id``."""

notifications = Table(
    "notifications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("at", Float, nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_notifications_job", "job_id", "id"),
)
"""What jobs sent their owners through ``$LZ_NOTIFY`` (``lz.core.notifications``), each within the
limits, in the order read (0007)."""
