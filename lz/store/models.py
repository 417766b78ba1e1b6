"""The tables. Times are UNIX seconds (float, UTC) so every process agrees without time zones."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    """One job and everything known about it; its state changes are logged in ``transitions``."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32), default="cli")
    spec: Mapped[str] = mapped_column(Text)  # JobSpec as JSON, resources included
    work_dir: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    executor: Mapped[str | None] = mapped_column(String(16))
    executor_id: Mapped[str | None] = mapped_column(String(64))
    submit_attempted_at: Mapped[float | None] = mapped_column(Float)
    native_state: Mapped[str | None] = mapped_column(String(32))
    pending_reason: Mapped[str | None] = mapped_column(Text)
    absent_since: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    max_rss_bytes: Mapped[int | None] = mapped_column(Integer)
    results_at: Mapped[float | None] = mapped_column(Float)


class TransitionRow(Base):
    """Append-only history: one row per state change (or accepted internal event)."""

    __tablename__ = "transitions"
    __table_args__ = (Index("ix_transitions_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(32))
    at: Mapped[float] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(Text)


class StatusRow(Base):
    """Facts about the landing zone itself (daemon heartbeat, controller health) for ``lz status``."""

    __tablename__ = "lz_status"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float)


class HubClaimRow(Base):
    """A job this landing zone claimed from a hub (``lz.hub.agent``): the outbox of its reports.

    Written before the bundle is fetched (intent), linked to the local job once intake stored it
    (its ``source`` is ``hub:<job>:<attempt>``), and deleted once the hub acknowledged the results.
    ``reported_seq`` is the last ``transitions.id`` the hub acknowledged for it."""

    __tablename__ = "hub_claims"

    hub_job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    hub_url: Mapped[str] = mapped_column(Text)
    local_job_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("jobs.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(128))
    spec: Mapped[str] = mapped_column(Text)
    reported_seq: Mapped[int] = mapped_column(Integer, default=0)
    lease_lost: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_applied: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_at: Mapped[float] = mapped_column(Float)
