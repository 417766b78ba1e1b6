"""Pydantic models of the API's bodies: one schema for the server, the client and /openapi.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lz.hub.protocol.versions import INLINE_BUNDLE_MAX, INLINE_RESULTS_MAX

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ZONE_REF = r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # NAME or OWNER/NAME
JOB_ID = r"^[0-9a-f]{1,32}$"
PILOT_GROUP = r"^[0-9][0-9_]{0,63}$"  # a SLURM job id (digits; ``_`` as in array task ids)
LAST_TIMESTAMP = 1e11  # the year 5138: beyond any real clock, within what every page can format
OUTCOME = r"^(succeeded|failed|cancelled|timed_out|lost)$"
MAX_ATTEMPTS = 100  # the most failed attempts a Station may allow its jobs


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StationIn(_Body):
    name: str = Field(pattern=NAME)


class MemberIn(_Body):
    user: str = Field(pattern=NAME)


class StationOut(BaseModel):
    name: str
    created_at: float
    members: list[dict[str, str]]
    landing_zones: list[str]
    jobs: dict[str, int]
    max_attempts: int = 3


class StationSettingsIn(_Body):
    """What a Station's owner or admin may change (``PUT /api/v1/stations/{station}``)."""

    max_attempts: int = Field(ge=1, le=MAX_ATTEMPTS, description=(
        "Failed attempts (lease ran out, job lost) a job may have before it ends lost; a job "
        "submitted with a larger max_attempts gets this."))


class QuotaIn(_Body):
    """A Station's own quota (``PUT /api/v1/stations/{station}/quota``): a field left out stays as
    it is; ``null`` goes back to the hub's default. A Station owner may set values up to the hub's
    defaults; only a hub admin may set more."""

    pending: int | None = Field(default=None, ge=0, le=1 << 31, description="Jobs waiting at once.")
    running: int | None = Field(default=None, ge=0, le=1 << 31, description="Jobs leased (running) at once.")
    bytes: int | None = Field(default=None, ge=0, le=1 << 62, description=(
        "Bytes stored on the hub for its jobs: bundles of unfinished jobs plus results kept."))


CREDITS = r"^[0-9]{1,13}(\.[0-9]{1,3})?$"  # an amount of credits as typed: at most three decimals
DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


class CreditsIn(_Body):
    """Prices and the credit limit of one rule of a Station (``PUT
    /api/v1/stations/{station}/credits``): the Station's own (scope ``station``), a role's or a
    user's. Amounts are decimal strings with at most three places (exact: no float holds money);
    a field left out stays, ``null`` clears it."""

    scope: Literal["station", "role", "user"] = "station"
    name: str | None = Field(default=None, pattern=NAME, description="The role or the user (not for station).")
    cpu_hour: str | None = Field(default=None, pattern=CREDITS, description="Credits per CPU-hour.")
    memory_gib_hour: str | None = Field(default=None, pattern=CREDITS, description="Credits per GiB-hour of memory.")
    gpu_hour: str | None = Field(default=None, pattern=CREDITS, description="Credits per GPU-hour.")
    limit: str | None = Field(default=None, pattern=CREDITS, description=(
        "The most that may be spent: by the Station's members together (station), or by each user "
        "(role, user; a user's own limit replaces their role's)."))


class CreditRuleOut(BaseModel):
    scope: str
    name: str | None
    cpu_hour: str | None
    memory_gib_hour: str | None
    gpu_hour: str | None
    limit: str | None


class CreditsOut(BaseModel):
    """A Station's credit rules (amounts in credits, three decimals) and what was spent."""

    station: str
    rules: list[CreditRuleOut]
    spent: str
    spent_by_you: str


class QuotaLimit(BaseModel):
    limit: int
    used: int
    own: bool = Field(description="The Station's own value (else the hub's default).")


class QuotaOut(BaseModel):
    """A Station's quota and what its jobs use now."""

    station: str
    pending: QuotaLimit
    running: QuotaLimit
    bytes: QuotaLimit


class ZoneFacts(_Body):
    """What a landing zone says about itself when it registers."""

    name: str = Field(pattern=NAME)
    version: str | None = Field(default=None, max_length=32)
    executor: str | None = Field(default=None, max_length=16)
    runtime: str | None = Field(default=None, max_length=16)
    cpus: int | None = Field(default=None, ge=0, le=1_000_000)
    gpus: int | None = Field(default=None, ge=0, le=100_000)
    memory_mb: int | None = Field(default=None, ge=0, le=1 << 40)
    os: str | None = Field(default=None, max_length=32)
    arch: str | None = Field(default=None, max_length=32)
    max_running: int | None = Field(default=None, ge=0, le=100_000)
    running: int | None = Field(default=None, ge=0, le=1_000_000)
    queue_length: int | None = Field(default=None, ge=0, le=1_000_000)
    # a pilot only (lz.hub.agent.pilot): its SLURM array's job id, else its own job id; when it ends
    pilot_group: str | None = Field(default=None, pattern=PILOT_GROUP)
    ends_at: float | None = Field(default=None, ge=0, le=1e11)


class ZoneOut(BaseModel):
    name: str
    owner: str
    online: bool
    last_seen: float | None
    version: str | None
    executor: str | None
    runtime: str | None
    cpus: int | None
    gpus: int | None
    memory_mb: int | None
    os: str | None
    arch: str | None
    running: int
    max_running: int
    queue_length: int
    stations: list[str]
    pilot_group: str | None = None
    ends_at: float | None = None
    time_left_s: float | None = None


class Held(_Body):
    id: str = Field(pattern=JOB_ID)
    attempt: int = Field(ge=1, le=1_000_000)


class HeartbeatIn(_Body):
    name: str = Field(pattern=NAME)
    running: int | None = Field(default=None, ge=0, le=1_000_000)
    queue_length: int | None = Field(default=None, ge=0, le=1_000_000)
    jobs: list[Held] = Field(default_factory=list, max_length=10_000)


class ControlOut(BaseModel):
    """The latest stop/kill/pause/resume request of a held job (``seq`` grows with each), for
    the held ``attempt`` (None from hubs older than the field)."""

    id: str
    action: str
    by: str
    seq: int
    attempt: int | None = None


class AttemptOut(BaseModel):
    """One attempt of a job: what a landing zone holding two attempts of one job tells apart."""

    id: str
    attempt: int


class HeartbeatOut(BaseModel):
    """``gone_jobs`` and ``cancel_jobs`` name the attempt; ``gone`` and ``cancel`` (job ids
    only) stay for agents older than them, which could not tell two attempts of a job apart."""

    lease_s: float
    gone: list[str]
    cancel: list[str]
    gone_jobs: list[AttemptOut] = Field(default_factory=list)
    cancel_jobs: list[AttemptOut] = Field(default_factory=list)
    controls: list[ControlOut] = Field(default_factory=list)
    idle_beat_s: float | None = Field(default=None, description=(
        "Seconds between heartbeats while the landing zone holds no job (its long polls show it is "
        "there); absent (older hubs): a third of the lease, as while it holds jobs."))


class ControlIn(_Body):
    action: Literal["stop", "kill", "pause", "resume"]


class ClaimIn(_Body):
    name: str = Field(pattern=NAME)
    max_jobs: int = Field(default=1, ge=1, le=16)
    wait_s: float = Field(default=20.0, ge=0, le=60)
    # a pilot's room (lz.hub.agent.pilot): only jobs that fit are claimed; None = not limited
    time_left_s: float | None = Field(default=None, ge=0, le=10 * 365 * 86400)
    free_cpus: int | None = Field(default=None, ge=0, le=1 << 20)
    free_memory_mb: int | None = Field(default=None, ge=0, le=1 << 40)
    free_gpus: int | None = Field(default=None, ge=0, le=1 << 16)
    ended: list[Annotated[str, Field(pattern=JOB_ID)]] = Field(default_factory=list, max_length=64, description=(
        "Jobs this landing zone holds whose process has ended, not reported yet: they take no room "
        "(protocol 3). A short job's transitions then all go with its finish, not in a report of their own."))


class Claimed(BaseModel):
    """A claimed job; a landing zone checks it as untrusted input (its id and attempt name files)."""

    id: str = Field(pattern=JOB_ID)
    attempt: int = Field(ge=1, le=1_000_000)
    name: str = Field(max_length=4096)
    spec: dict[str, Any]
    lease_expires: float
    bundle: str | None = Field(default=None, max_length=(INLINE_BUNDLE_MAX + 2) // 3 * 4, description=(
        "The job's bundle (.tar.gz) as base64, when the claim asked ?inline= and it is that small "
        "(protocol 2): no download request."))


class ClaimOut(BaseModel):
    lease_s: float
    jobs: list[Claimed]
    protocol: int = Field(default=1, description="What the hub speaks (lz.hub.protocol.versions.PROTOCOL).")


class EventIn(_Body):
    seq: int = Field(ge=0, le=1 << 62)
    from_state: str = Field(max_length=16)
    to_state: str = Field(max_length=16)
    event: str = Field(max_length=32)
    at: float = Field(ge=0, le=LAST_TIMESTAMP, allow_inf_nan=False)
    detail: str | None = Field(default=None, max_length=4096)


class Facts(_Body):
    outcome: str | None = Field(default=None, max_length=16, pattern=OUTCOME)
    reason: str | None = Field(default=None, max_length=4096)
    exit_code: int | None = Field(default=None, ge=-(1 << 31), le=1 << 31)
    executor: str | None = Field(default=None, max_length=16)
    executor_id: str | None = Field(default=None, max_length=64)
    native_state: str | None = Field(default=None, max_length=32)
    pending_reason: str | None = Field(default=None, max_length=4096)
    # a landing zone's report is input like any other: a time no page can show would break
    # every list the job is in (a start of 1e15 did), so times and figures are bounded here
    started_at: float | None = Field(default=None, ge=0, le=LAST_TIMESTAMP, allow_inf_nan=False)
    ended_at: float | None = Field(default=None, ge=0, le=LAST_TIMESTAMP, allow_inf_nan=False)
    cpu_seconds: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    max_rss_bytes: int | None = Field(default=None, ge=0, le=1 << 62)


def facts_within_bounds(facts: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The facts as the hub accepts them, and the names of those it would refuse (sent as null):
    one absurd figure (sstat's garbage for a step that just started) must not make the hub refuse
    a whole report, which the landing zone would then send again for ever while the job stalls."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in facts.items():
        try:
            Facts.model_validate({name: value})
        except ValidationError:
            kept[name] = None
            dropped.append(name)
        else:
            kept[name] = value
    return kept, dropped


class ReportIn(_Body):
    name: str = Field(pattern=NAME)
    attempt: int = Field(ge=1, le=1_000_000)
    events: list[EventIn] = Field(default_factory=list, max_length=10_000)
    facts: Facts = Field(default_factory=Facts)


class ReportOut(BaseModel):
    acknowledged_seq: int


class FinishIn(_Body):
    name: str = Field(pattern=NAME)
    attempt: int = Field(ge=1, le=1_000_000)
    results: bool
    facts: Facts = Field(default_factory=Facts)
    events: list[EventIn] = Field(default_factory=list, max_length=10_000, description=(
        "The attempt's transitions not reported yet, recorded before the finish (protocol 2)."))
    results_inline: str | None = Field(default=None, max_length=(INLINE_RESULTS_MAX + 2) // 3 * 4, description=(
        "The attempt's results tar as base64, when that small (protocol 4): stored, then the finish "
        "recorded, with no upload before it; needs results true."))


class LogOut(BaseModel):
    size: int


class Ok(BaseModel):
    ok: bool = True


class TokenInfo(BaseModel):
    user: str
    admin: bool
    scope: str


class Problem(BaseModel):
    """Every refusal: one line for the user."""

    detail: str


ROLE = r"^[a-z][a-z0-9_-]{0,15}$"  # a built-in role (admin, contributor, launcher; member: contributor) or a custom one


class InvitationIn(_Body):
    user: str = Field(pattern=NAME)
    role: str = Field(default="contributor", pattern=ROLE)


class MemberRoleIn(_Body):
    role: str = Field(pattern=ROLE)


class RoleIn(_Body):
    """A custom role's permission flags (``lz station role flags``)."""

    flags: list[str] = Field(default=[], max_length=32)


class RoleOut(BaseModel):
    name: str
    flags: list[str]
    built_in: bool


class Bounds(_Body):
    """One resource of a template: the value a job gets when it says none, and the least and
    most it may ask for (each optional)."""

    default: int | None = Field(default=None, ge=0, le=1 << 40)
    min: int | None = Field(default=None, ge=0, le=1 << 40)
    max: int | None = Field(default=None, ge=0, le=1 << 40)


RUNTIMES = ("dockerfile", "singularity", "command")  # a recipe's kind, or none (a command on the node)


class TemplateIn(_Body):
    """A job template (the original's mission type): bounds of CPUs, memory (MiB), GPUs and time
    (seconds), the runtimes it allows (empty: any), whether its jobs may run several tasks or nodes
    (``distributed``; without it, one task on one node), and the ports its jobs may serve."""

    description: str = Field(default="", max_length=200)
    cpus: Bounds = Bounds()
    memory_mb: Bounds = Bounds()
    gpus: Bounds = Bounds()
    time_s: Bounds = Bounds()
    runtimes: list[Literal["dockerfile", "singularity", "command"]] = Field(default=[], max_length=3)
    distributed: bool = False
    ports: list[int] = Field(default=[], max_length=16)


class TemplateOut(TemplateIn):
    name: str


class InvitationOut(BaseModel):
    station: str
    user: str
    role: str
    invited_by: str
    created_at: float


class MemberOut(BaseModel):
    user: str
    role: str


class VolumeIn(_Body):
    mount: str = Field(max_length=255)
    access: Literal["ro", "rw"] = "ro"


class VolumeMapIn(_Body):
    host_path: str = Field(max_length=1024)


class VolumeOut(BaseModel):
    name: str
    mount: str
    access: str
    landing_zones: dict[str, str]


class ReleaseIn(_Body):
    """A draining landing zone hands back the jobs it holds (requeued as a new attempt, not a
    failure) and, with ``offline``, says it is leaving."""

    name: str = Field(pattern=NAME)
    jobs: list[Held] = Field(default_factory=list, max_length=10_000)
    offline: bool = False


class ReleaseOut(BaseModel):
    released: list[str]
