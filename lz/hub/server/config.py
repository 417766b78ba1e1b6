"""The hub server's settings (pydantic): defaults, then flags of ``lz hub serve``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lz.hub.protocol.ports import PortLimits


class HubConfig(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    db_url: str
    files_dir: Path
    # where bundles, results and logs are kept (issue 22): None is ``files_dir``; else a URL,
    # file:///srv/lz-hub/files or s3://bucket/prefix?endpoint=https://s3.example.org&region=us-east-1
    store: str | None = None
    # S3 credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment, or this file
    # (the AWS shared credentials format, [default] aws_access_key_id, aws_secret_access_key)
    store_credentials: Path | None = None
    presign: bool = False  # S3: downloads redirect (307) to a presigned URL instead of passing through the hub
    presign_s: int = Field(default=300, ge=10, le=3600)  # how long such a URL works
    lease_s: float = Field(default=30.0, gt=0)
    online_s: float = Field(default=60.0, gt=0)
    max_bundle_bytes: int = 1 << 30
    max_bundle_files: int = 100_000
    max_upload_bytes: int = 1 << 30  # a job's tarball as uploaded (compressed)
    max_results_bytes: int = 4 << 30
    max_live_log_bytes: int = Field(default=64 << 20, ge=0)  # per log of a running attempt (three logs)
    # uploads checked at once by one hub process (each decompresses and unpacks an archive); one
    # more waits up to check_wait_s for a slot, then is refused with 503 and Retry-After
    # a slow client: a form or JSON body arrives whole within body_timeout_s, and no body (uploads
    # included) pauses longer than body_idle_s; otherwise 408
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    body_idle_s: float = Field(default=120.0, gt=0, le=3600)
    max_parallel_checks: int = Field(default=4, ge=1, le=256)
    check_wait_s: float = Field(default=10.0, ge=0, le=600)
    # retention (issue 20), in days: results after their first download, results never downloaded,
    # finished jobs' rows and events (deleted once their results are gone too)
    retention_days: float = Field(default=30.0, gt=0, le=3650)
    undownloaded_days: float = Field(default=90.0, gt=0, le=3650)
    finished_jobs_days: float = Field(default=365.0, gt=0, le=36500)
    # a finished job's bundle is kept this long for "submit again" (issue 26; counts toward quotas); 0: dropped at once
    resubmit_days: float = Field(default=7.0, ge=0, le=3650)
    housekeeping_s: float = Field(default=60.0, gt=0, le=86400)  # how often the reaper runs housekeeping
    incoming_grace_s: float = Field(default=600.0, ge=0, le=86400)  # an upload file untouched this long is dead
    # quotas (issue 21): what each Station (unless it has its own, ``lz station quota``) and each
    # user may have at once: jobs waiting, jobs running (leased; more wait, never refused), and
    # bytes stored on the hub (bundles plus results kept) for their jobs
    station_pending: int = Field(default=10_000, ge=0)  # jobs waiting in one Station
    station_running: int = Field(default=1_000, ge=0)  # jobs of one Station leased at once
    station_bytes: int = Field(default=100 << 30, ge=0)  # bundles and results of one Station's jobs
    user_pending: int = Field(default=10_000, ge=0)  # jobs one user has waiting, all Stations together
    user_running: int = Field(default=1_000, ge=0)
    user_bytes: int = Field(default=50 << 30, ge=0)
    recheck_s: float = 0.25
    # on PostgreSQL the hub processes wake each other's long polls (LISTEN/NOTIFY, issue 22): the
    # checks every recheck_s (and [ports] recheck_s) then run only while the listening connection
    # is lost; while it listens, one every wakeup_recheck_s as a safety net
    wakeup_recheck_s: float = Field(default=5.0, gt=0, le=300)
    max_claim_wait_s: float = 60.0  # a long poll never holds a connection longer
    clock: Callable[[], float] = time.time
    # login (issue 11): the embedded device flow, or an Auth0 tenant when ``auth0`` is set
    access_s: float = Field(default=3600.0, gt=0)  # access tokens of the device flow
    refresh_s: float = Field(default=30 * 86400.0, gt=0)
    refresh_grace_s: float = 30.0  # a just-rotated refresh token still works this long
    # the longest a token minted over the API (``POST /api/v1/tokens``) may live; never longer
    max_token_s: float = Field(default=90 * 86400.0, gt=0, le=3650 * 86400.0)
    device_s: float = Field(default=600.0, gt=0)  # how long a user code may be entered
    device_interval_s: int = Field(default=5, ge=1)
    public_url: str | None = None  # what verification_uri starts with (default: the request's)
    # addresses (or networks) whose X-Forwarded-Proto/For are believed: the TLS proxy in front;
    # anyone else's are ignored, so nobody can make the hub think a plain request came over https
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    min_version: str | None = None  # landing zones below it may not claim work
    latest_version: str | None = None
    auth0: Auth0Config | None = None
    # notifications (issue 26): e-mail through this server ([smtp] of the file; none: no e-mail),
    # and how often queued e-mails and webhooks are sent, tried at most ``deliver_tries`` times
    smtp: SmtpConfig | None = None
    deliver_s: float = Field(default=5.0, gt=0, le=3600)
    deliver_tries: int = Field(default=8, ge=1, le=100)
    ports: PortLimits = PortLimits()  # interactive ports (issue 26): [ports] of the file
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=300)  # a whole delivery, however slow the receiver
    # webhooks to loopback, link-local (metadata), private or reserved addresses: refused unless
    # this is on (receivers on the hub's own network; the tests' on 127.0.0.1)
    webhook_allow_private: bool = False
    # credits (issue 26): a job's owner is warned once their spending reaches this share of a
    # credit limit (prices and limits themselves are per Station: ``lz station credits``)
    credit_warn_percent: int = Field(default=80, ge=0, le=100)
    # abuse limits (issue 21), shared by the hub's processes through the database unless said
    # otherwise; a refusal is 429 with Retry-After
    rate_window_s: float = Field(default=60.0, gt=0, le=86400)  # the window of the per-address limits below
    login_per_address: int = Field(default=20, ge=1)  # password sign-ins one address may try per window
    login_failures: int = Field(default=10, ge=1)  # failed passwords for one user that lock its password sign-in
    login_lock_s: float = Field(default=900.0, gt=0, le=86400)  # the first lock (each next one twice as long, up to a day); failures count within this long too
    token_per_address: int = Field(default=600, ge=1)  # /oauth/token calls one address may make per window
    device_per_address: int = Field(default=30, ge=1)  # device logins one address may start per window
    activate_per_address: int = Field(default=30, ge=1)  # user codes one address (or signed-in user) may look up per window
    password_checks: int = Field(default=2, ge=1, le=64)  # argon2 checks (64 MiB each) at once per process; more: 503 at once
    polls_per_zone: int = Field(default=2, ge=1, le=100)  # long-poll claims at once per landing zone (and token) per process
    polls_per_token: int = Field(default=128, ge=1, le=10_000)  # and per token, all its zones together (a job array of pilots shares one token)

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Each an IP address or network: a typo must not silently trust nobody (or a name)."""
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network") from None
        return value


class Auth0Config(BaseModel):
    """``[auth0]`` of the hub's configuration file. ``scheme`` is ``http`` only for tests
    (a loopback tenant); the issuer is ``{scheme}://{domain}/``."""

    model_config = ConfigDict(frozen=True)

    domain: str
    client_id: str
    audience: str
    scheme: str = "https"
    jwks_cooldown_s: float = 30.0  # least time between JWKS refetches for unknown key ids

    @property
    def issuer(self) -> str:
        return f"{self.scheme}://{self.domain}/"


class SmtpConfig(BaseModel):
    """``[smtp]`` of the hub's configuration file: where notification e-mails go out. The password
    is never a flag nor in the file: ``$LZ_HUB_SMTP_PASSWORD``, else the file ``password_file``."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    sender: str = Field(min_length=3, max_length=254)  # the From address
    starttls: bool = True
    username: str | None = None
    password_file: Path | None = None
    timeout_s: float = Field(default=20.0, gt=0, le=300)

    def password(self, environ: dict[str, str] | None = None) -> str | None:
        import os

        found = (environ if environ is not None else dict(os.environ)).get("LZ_HUB_SMTP_PASSWORD")
        if found:
            return found
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return None


def load_file(path: Path) -> dict[str, object]:
    """The hub's TOML configuration file (``lz hub serve --config``): ``[auth0]``, ``[login]``, ``[ports]``, and
    ``[hub]`` for any other setting of ``HubConfig`` (retention days, ``recheck_s``, ...)."""
    import tomllib

    from lz.core.errors import UserError

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"hub configuration {path}: {exc}") from None
    out: dict[str, object] = {}
    if "auth0" in data:
        out["auth0"] = Auth0Config(**data["auth0"])
    if "smtp" in data:
        out["smtp"] = SmtpConfig(**data["smtp"])
    if "ports" in data:
        out["ports"] = PortLimits(**data["ports"])
    out.update(data.get("login", {}))
    out.update(data.get("hub", {}))
    return out
HubConfig.model_rebuild()
