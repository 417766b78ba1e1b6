"""The hub's tables. Times are UNIX seconds (float, UTC), like the landing zone's store."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# the jobs that keep bytes on the hub (a bundle not yet forgotten, results kept): the predicate of
# the partial indexes the quota check reads (``domain.quotas._keeps_bytes`` says the same)
KEEPS_BYTES = "bundle <> '' OR results IS NOT NULL"


class HubBase(DeclarativeBase):
    pass


class User(HubBase):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    password_hash: Mapped[str | None] = mapped_column(Text)  # argon2id; None: no web sign-in
    subject: Mapped[str | None] = mapped_column(String(255), unique=True)  # an Auth0 tenant's ``sub``
    # ``lz hub user disable``: no sign-in, no token, no session until enabled again (hub0011)
    disabled_at: Mapped[float | None] = mapped_column(Float)


class Token(HubBase):
    """Only the sha256 of a token is stored; the token itself is shown once, at creation.

    ``scope`` is ``user`` (everything the user may do, running a landing zone included) or
    ``landing-zone`` (register, claim and report only; what a batch of pilots shares).

    ``origin`` says how it was made (``lz.hub.server.domain.tokens.Origin``; None: before hub0011);
    ``family`` ties a device login's access tokens, and the tokens they minted, to its refresh
    family: revoking the family revokes them all (hub0011)."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float)
    origin: Mapped[str | None] = mapped_column(String(16))
    family: Mapped[str | None] = mapped_column(String(32), index=True)
    label: Mapped[str | None] = mapped_column(String(64))


class Station(HubBase):
    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[float] = mapped_column(Float)
    # failed attempts (lease ran out, job lost) a job may have before it ends lost (hub0008)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # quotas of the Station's jobs; None: the hub's default (``lz.hub.server.domain.quotas``, hub0010)
    quota_pending: Mapped[int | None] = mapped_column(Integer)
    quota_running: Mapped[int | None] = mapped_column(Integer)
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)


class StationMember(HubBase):
    """Who belongs to a Station; ``role`` is owner/admin/member (roles are enforced later)."""

    __tablename__ = "station_members"

    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="contributor")
    added_at: Mapped[float] = mapped_column(Float)


class LandingZone(HubBase):
    """A landing zone as it last described itself (register and heartbeat). Its name is unique
    per owner (hub0011): two users may each run a zone called ``gw``."""

    __tablename__ = "landing_zones"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_landing_zones_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    registered_at: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float | None] = mapped_column(Float)
    version: Mapped[str | None] = mapped_column(String(32))
    executor: Mapped[str | None] = mapped_column(String(16))
    runtime: Mapped[str | None] = mapped_column(String(16))
    cpus: Mapped[int | None] = mapped_column(Integer)
    gpus: Mapped[int | None] = mapped_column(Integer)
    memory_mb: Mapped[int | None] = mapped_column(Integer)
    os: Mapped[str | None] = mapped_column(String(32))
    arch: Mapped[str | None] = mapped_column(String(32))
    running: Mapped[int] = mapped_column(Integer, default=0)
    max_running: Mapped[int] = mapped_column(Integer, default=1)
    queue_length: Mapped[int] = mapped_column(Integer, default=0)
    offline_at: Mapped[float | None] = mapped_column(Float)  # a drained pilot said goodbye (hub0004)
    # a pilot's SLURM array job id (or its own job id) and when its allocation ends (hub0006)
    pilot_group: Mapped[str | None] = mapped_column(String(64))
    ends_at: Mapped[float | None] = mapped_column(Float)


class StationZone(HubBase):
    __tablename__ = "station_zones"

    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    lz_id: Mapped[int] = mapped_column(ForeignKey("landing_zones.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[float] = mapped_column(Float)


class HubJob(HubBase):
    """A job of a Station. ``phase``: pending (claimable), leased (a landing zone holds it under a
    lease until ``lease_expires``), finished. ``state`` and the facts are what the holding
    landing zone last reported, in the landing zone's vocabulary, so ``lz status`` reads the same."""

    __tablename__ = "hub_jobs"
    __table_args__ = (
        Index("ix_hub_jobs_claim", "phase", "station_id", "created_at"),
        Index("ix_hub_jobs_created", "created_at", "id"),
        Index("ix_hub_jobs_by_name", "name", "created_at", "id"),  # the list's sorts (hub0021)
        Index("ix_hub_jobs_by_state", "state", "created_at", "id"),
        # what a submission's quota check counts (hub0022): a user's waiting and leased jobs, and the
        # jobs that keep bytes (bundle or results) of a Station and of a user, not all they ever ran
        Index("ix_hub_jobs_submitter_phase", "submitter_id", "phase"),
        Index("ix_hub_jobs_kept_station", "station_id", sqlite_where=text(KEEPS_BYTES),
              postgresql_where=text(KEEPS_BYTES)),
        Index("ix_hub_jobs_kept_submitter", "submitter_id", sqlite_where=text(KEEPS_BYTES),
              postgresql_where=text(KEEPS_BYTES)),
        UniqueConstraint("submitter_id", "submit_key", name="uq_hub_jobs_submit_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    submitter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submit_key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    spec: Mapped[str] = mapped_column(Text)
    bundle: Mapped[str] = mapped_column(Text)
    bundle_bytes: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(16), default="pending")
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    lease_owner: Mapped[int | None] = mapped_column(ForeignKey("landing_zones.id"))
    lease_expires: Mapped[float | None] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    control: Mapped[str | None] = mapped_column(String(16))  # the latest stop/kill/pause/resume request
    control_by: Mapped[str | None] = mapped_column(String(64))
    control_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ran_on: Mapped[int | None] = mapped_column(ForeignKey("landing_zones.id"))
    state: Mapped[str] = mapped_column(String(16), default="received")
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    executor: Mapped[str | None] = mapped_column(String(16))
    executor_id: Mapped[str | None] = mapped_column(String(64))
    native_state: Mapped[str | None] = mapped_column(String(32))
    pending_reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    max_rss_bytes: Mapped[int | None] = mapped_column(Integer)
    results: Mapped[str | None] = mapped_column(Text)
    results_attempt: Mapped[int | None] = mapped_column(Integer)
    results_at: Mapped[float | None] = mapped_column(Float)
    downloaded_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    # failed attempts so far, and how many it may have (at most its Station's) (hub0008)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    results_bytes: Mapped[int | None] = mapped_column(BigInteger)  # the stored results' size (quotas, hub0010)
    waiting_on: Mapped[str | None] = mapped_column(Text)  # prerequisites (--after) not yet ended well (hub0016)


class HubEvent(HubBase):
    """The job's history: hub events (submitted, claimed, requeued) and every transition the
    holding landing zone reported, idempotent by (job, attempt, seq)."""

    __tablename__ = "hub_events"
    __table_args__ = (
        UniqueConstraint("job_id", "attempt", "seq", name="uq_hub_events_seq"),
        Index("ix_hub_events_job", "job_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("hub_jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int | None] = mapped_column(Integer)  # the reporting landing zone's; None for hub events
    lz_id: Mapped[int | None] = mapped_column(ForeignKey("landing_zones.id"))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(32))
    at: Mapped[float] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(Text)


class HubAttempt(HubBase):
    """One attempt of a job: which landing zone claimed it and when, and when and why it ended
    (``ended``: finished, lost, expired, released, cancelled), written in the transaction of the
    claim, the requeue or the finish (hub0008)."""

    __tablename__ = "hub_attempts"

    job_id: Mapped[str] = mapped_column(ForeignKey("hub_jobs.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    lz_id: Mapped[int | None] = mapped_column(ForeignKey("landing_zones.id", ondelete="SET NULL"))
    claimed_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    ended: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)


class DeviceRequest(HubBase):
    """One RFC 8628 device authorization: the device code (its sha256), the code a person types,
    who asked from where, and whether a signed-in user approved it (``status``: pending,
    approved, denied, used)."""

    __tablename__ = "device_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_code: Mapped[str] = mapped_column(String(16), unique=True)
    client: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    interval_s: Mapped[int] = mapped_column(Integer)
    last_poll_at: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class RefreshToken(HubBase):
    """A rotating refresh token (its sha256). Each use replaces it by a new one of the same
    ``family``; a use long after it was replaced revokes the family (reuse detection)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class WebSession(HubBase):
    """A browser's sign-in (``/activate``): the cookie's sha256 and its CSRF token."""

    __tablename__ = "web_sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[float] = mapped_column(Float)


class StationInvitation(HubBase):
    """An invitation to join a Station with a role, until the user accepts or declines it."""

    __tablename__ = "station_invitations"
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="contributor")
    invited_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[float] = mapped_column(Float)


class StationVolume(HubBase):
    """A named volume of a Station: where jobs see it and how (``ro``/``rw``); its host path is
    per landing zone (``VolumeMapping``)."""

    __tablename__ = "station_volumes"
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    mount: Mapped[str] = mapped_column(String(255))
    access: Mapped[str] = mapped_column(String(2), default="ro")
    created_at: Mapped[float] = mapped_column(Float)


class VolumeMapping(HubBase):
    """Where a Station's volume is on one landing zone."""

    __tablename__ = "volume_mappings"
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    lz_id: Mapped[int] = mapped_column(ForeignKey("landing_zones.id", ondelete="CASCADE"), primary_key=True)
    host_path: Mapped[str] = mapped_column(String(1024))


class RateLimit(HubBase):
    """One counter of the rate limits and sign-in lockouts (``lz.hub.server.domain.rate_limits``),
    shared by every hub process: events (or failures) since ``started_at``, and a lock that began
    at ``locked_at`` and lasts ``lock_s`` (``strikes`` locks so far: each next one is longer)."""

    __tablename__ = "hub_rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[float | None] = mapped_column(Float)
    lock_s: Mapped[float] = mapped_column(Float, default=0.0)
    strikes: Mapped[int] = mapped_column(Integer, default=0)
    seen_at: Mapped[float] = mapped_column(Float, index=True)


class JobNotification(HubBase):
    """What a job sent its owner through ``$LZ_NOTIFY``, as its landing zone forwarded it
    (idempotent by job, attempt, seq); ``seen_at``: when the owner's page showed it (hub0014)."""

    __tablename__ = "job_notifications"
    __table_args__ = (
        UniqueConstraint("job_id", "attempt", "seq", name="uq_job_notifications_seq"),
        Index("ix_job_notifications_job", "job_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("hub_jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[float] = mapped_column(Float)
    seen_at: Mapped[float | None] = mapped_column(Float)


class NotificationSubscription(HubBase):
    """How one user gets one Station's job notifications and job ends: ``channel`` web (the
    page's badge), email (to ``target``) or webhook (POST to ``target``, signed with ``secret``);
    ``events``: ``notifications``, ``job_end`` or both, comma-separated (hub0014)."""

    __tablename__ = "notification_subscriptions"
    __table_args__ = (Index("ix_notification_subscriptions_station_user", "station_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(2048))
    secret: Mapped[str | None] = mapped_column(String(128))
    events: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class NotificationDelivery(HubBase):
    """One e-mail or webhook to send (written with what caused it: intent before the effect),
    tried until sent or ``deliver_tries`` fail, backing off; at least once (hub0014)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_due", "state", "next_try_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("notification_subscriptions.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # notification or job_end
    payload: Mapped[str] = mapped_column(Text)  # the JSON a webhook posts (an e-mail is written from it)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[float] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[float | None] = mapped_column(Float)


class NotifiedJobEnd(HubBase):
    """A finished job whose end was handed to its owner's subscriptions (once) (hub0014)."""

    __tablename__ = "notified_job_ends"

    job_id: Mapped[str] = mapped_column(ForeignKey("hub_jobs.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[float] = mapped_column(Float)


class StationRole(HubBase):
    """A Station's custom role: its permission flags, space-separated (``lz.hub.server.domain.roles``;
    the built-in roles are not stored) (hub0015)."""

    __tablename__ = "station_roles"
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    flags: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)


class StationTemplate(HubBase):
    """A Station's job template (the original's mission type): default, least and most resources,
    the runtimes it allows, distributed, ports, as JSON (``lz.hub.server.domain.templates``) (hub0015)."""

    __tablename__ = "station_templates"
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class PortTunnel(HubBase):
    """A connection a user waits for to a running job's port (issue 26), so the landing zone's
    long poll hears of it on whichever hub process it reached (``lz.hub.server.tunnels``). Its
    WebSocket must still reach the process the user's request did (that one holds the user's
    connection). Removed when the user's side ends; one a killed process left is removed
    after ``STALE_S`` (``lz.hub.server.domain.ports``) (hub0018)."""

    __tablename__ = "hub_port_tunnels"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lz_id: Mapped[int] = mapped_column(ForeignKey("landing_zones.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer)
    port: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    handed_at: Mapped[float | None] = mapped_column(Float)


class JobUsage(HubBase):
    """What one attempt of a job has used and been charged so far (``lz.hub.server.domain.usage``):
    monotonic totals, each report raising them (never lowering), so a resent report charges
    nothing twice. Integers: CPU and GPU seconds, MiB-seconds of memory, milli-credits. No key to
    ``hub_jobs``: usage outlives the job's row (retention) (hub0017)."""

    __tablename__ = "job_usage"
    __table_args__ = (Index("ix_job_usage_station_user", "station_id", "user_id"),)

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lz_id: Mapped[int | None] = mapped_column(ForeignKey("landing_zones.id", ondelete="SET NULL"))
    wall_s: Mapped[int] = mapped_column(BigInteger, default=0)
    cpu_s: Mapped[int] = mapped_column(BigInteger, default=0)
    mem_mib_s: Mapped[int] = mapped_column(BigInteger, default=0)
    gpu_s: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_mc: Mapped[int] = mapped_column(BigInteger, default=0)
    warned_at: Mapped[float | None] = mapped_column(Float)  # the credit warning was sent
    stopped_at: Mapped[float | None] = mapped_column(Float)  # the stop for credit was asked
    updated_at: Mapped[float] = mapped_column(Float)


class UsageDay(HubBase):
    """What an attempt used on one UTC day (the increments its reports brought that day): the rows
    usage is summed from per user, Station, landing zone and day (hub0017)."""

    __tablename__ = "usage_days"
    __table_args__ = (Index("ix_usage_days_station_day", "station_id", "day"), Index("ix_usage_days_day", "day"))

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lz_id: Mapped[int | None] = mapped_column(ForeignKey("landing_zones.id", ondelete="SET NULL"))
    cpu_s: Mapped[int] = mapped_column(BigInteger, default=0)
    mem_mib_s: Mapped[int] = mapped_column(BigInteger, default=0)
    gpu_s: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_mc: Mapped[int] = mapped_column(BigInteger, default=0)


class CreditRule(HubBase):
    """A Station's prices and credit limit for the Station as a whole (``scope`` station,
    ``subject`` empty), for a role (its name) or a user (their id), in milli-credits: per CPU-hour,
    GiB-hour of memory and GPU-hour, and the most one may spend (None: not set here)
    (``lz.hub.server.domain.credits``, hub0017)."""

    __tablename__ = "credit_rules"

    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    cpu_hour_mc: Mapped[int | None] = mapped_column(BigInteger)
    mem_gib_hour_mc: Mapped[int | None] = mapped_column(BigInteger)
    gpu_hour_mc: Mapped[int | None] = mapped_column(BigInteger)
    limit_mc: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[float] = mapped_column(Float)
