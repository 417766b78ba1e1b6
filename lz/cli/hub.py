"""``lz hub …`` (on the hub host, against its database), ``lz station …`` and ``lz zones``
(clients, over HTTP). Heavy imports (FastAPI, uvicorn, requests) happen inside the commands."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from lz.cli.hub_target import hub_options, insecure_option, target
from lz.core.errors import UserError


def _views() -> Any:
    from lz.core import views

    return views


# -- lz hub: the server and its accounts --------------------------------------------------------
def _store_option(func: Any) -> Any:
    return click.option("--store", default=None, envvar="LZ_HUB_STORE", metavar="URL",
                        help="Where bundles, results and logs are kept instead of --files: file:///DIR or "
                             "s3://BUCKET/PREFIX?endpoint=URL&region=NAME (credentials from AWS_ACCESS_KEY_ID/"
                             "AWS_SECRET_ACCESS_KEY or [hub] store_credentials; [hub] store; env LZ_HUB_STORE).")(func)


def _check_store(url: object) -> None:
    """A bad store URL is one line and exit 2 before anything starts (never echoing it whole:
    a URL with a secret in it is refused without repeating the secret)."""
    if url is None:
        return
    if not isinstance(url, str):
        raise UserError("hub settings: store is a URL (file:///DIR or s3://BUCKET/PREFIX)")
    from lz.hub.server.storage.location import parse_store

    parse_store(url)


def _db_option(func: Any) -> Any:
    return click.option("--db", "db_url", default=None, envvar="LZ_HUB_DB",
                        help="Database URL, e.g. postgresql+psycopg://… or a SQLite path "
                             "(default $XDG_STATE_HOME/lz/hub/hub.db; env LZ_HUB_DB).")(func)


def _engine(db_url: str | None) -> Any:
    from lz.hub.server import db

    engine = db.make_hub_engine(db.database_url(db_url, db.default_hub_dir()))
    db.upgrade(engine)
    return engine


@click.group(name="hub")
def hub_group() -> None:
    """The hub: Stations users submit to and landing zones pull from."""


@hub_group.command(name="serve")
@click.option("--listen", default="127.0.0.1:8750", show_default=True, help="HOST:PORT to listen on.")
@_db_option
@click.option("--files", "files_dir", type=click.Path(path_type=Path), default=None,
              help="Where bundles and results are kept (default: beside a SQLite database, else the hub dir).")
@_store_option
@click.option("--lease", "lease_s", type=float, default=30.0, show_default=True, help="Lease length in seconds.")
@click.option("--metrics", default=None, metavar="HOST:PORT",
              help="Serve Prometheus metrics at http://HOST:PORT/metrics (read from the hub's database).")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              envvar="LZ_HUB_CONFIG", help="TOML: [auth0] domain, client_id, audience; [login] access_s, "
                                           "refresh_s, min_version, latest_version, public_url (env LZ_HUB_CONFIG).")
@click.option("--keep-results", "retention_days", type=click.FloatRange(min=0, min_open=True, max=3650),
              default=30.0, show_default=True, help="Days results are kept after their first download.")
@click.option("--keep-undownloaded", "undownloaded_days", type=click.FloatRange(min=0, min_open=True, max=3650),
              default=90.0, show_default=True, help="Days results never downloaded are kept.")
@click.option("--keep-jobs", "finished_jobs_days", type=click.FloatRange(min=0, min_open=True, max=36500),
              default=365.0, show_default=True,
              help="Days a finished job's row, events and attempts are kept (once its results are gone).")
@click.option("--trusted-proxies", default=None, metavar="ADDRS",
              help="Comma-separated addresses or networks of the TLS proxy in front, whose X-Forwarded-Proto/For "
                   "are believed (default 127.0.0.1,::1; [hub] trusted_proxies).")
@click.option("-v", "--verbose", count=True, help="More log output.")
def serve(listen: str, db_url: str | None, files_dir: Path | None, store: str | None, lease_s: float,
          metrics: str | None,
          config_file: Path | None, retention_days: float, undownloaded_days: float, finished_jobs_days: float,
          trusted_proxies: str | None, verbose: int) -> None:
    """Serve the HTTP API (OpenAPI document at /openapi.json)."""
    import logging

    import uvicorn

    from lz.hub.server import db
    from lz.hub.server.app import create_app
    from lz.hub.server.config import HubConfig
    from lz.metrics.address import parse_address

    host, port_number = parse_address(listen, "--listen")
    port = str(port_number)
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from lz.hub.server.config import load_file

    hub_dir = db.default_hub_dir()
    url = db.database_url(db_url, hub_dir)
    extra: dict[str, Any] = {"retention_days": retention_days, "undownloaded_days": undownloaded_days,
                             "finished_jobs_days": finished_jobs_days,
                             **(dict(load_file(config_file)) if config_file else {})}
    if trusted_proxies is not None:
        extra["trusted_proxies"] = tuple(a.strip() for a in trusted_proxies.split(",") if a.strip())
    if store is not None:
        extra["store"] = store
    _check_store(extra.get("store"))
    try:
        config = HubConfig(db_url=url, files_dir=files_dir or db.files_dir_for(url, hub_dir), lease_s=lease_s,
                           **extra)
    except ValueError as exc:
        where = f"hub configuration {config_file}" if config_file else "hub settings"
        raise UserError(f"{where}: {' '.join(str(exc).split())}") from None
    from lz.host.faults import arm_from_environment

    try:
        arm_from_environment()  # a test hook (LZ_CRASH_AT): a wrong point name must not pass unnoticed
    except ValueError as exc:
        raise UserError(str(exc)) from None
    os.umask(0o077)  # the database, its -wal/-shm files and every stored file: the hub's account only
    app = create_app(config)
    if metrics:
        _serve_metrics(metrics, app.state.hub, lease_s)
    _say_where(host, port, config, metrics, app.state.hub.files.describe())
    from lz.hub.server.warmup import tune_collector, warm

    warm(app)  # the routes' first-request work done now, not by the first job (issue 22)
    tune_collector()  # only here: a test process building many apps would keep every one of them
    # access logs carry URLs only (tokens travel in a header), but stay off unless asked for
    # the app believes forwarded headers from config.trusted_proxies only (not FORWARDED_ALLOW_IPS)
    uvicorn.run(app, host=host.strip("[]"), port=int(port), access_log=verbose > 0, proxy_headers=False,
                log_level="info" if verbose else "warning",
                timeout_graceful_shutdown=5)


def _say_where(host: str, port: str, config: Any, metrics: str | None, store: str) -> None:
    """What a person starting a server wants to know first, as uvicorn and Jupyter print it."""
    from sqlalchemy.engine import make_url

    base = config.public_url or f"http://{host}:{port}"
    lines = [f"lz hub: serving on http://{host}:{port}",
             f"lz hub: web page {base.rstrip('/')}/, API {base.rstrip('/')}/api/v1 (OpenAPI at /openapi.json)",
             f"lz hub: database {make_url(config.db_url).render_as_string(hide_password=True)}",
             f"lz hub: stored files in {store}"]
    if metrics:
        lines.append(f"lz hub: Prometheus metrics on http://{metrics}/metrics")
    from lz.hub.protocol.transport import is_loopback

    if not is_loopback(host.strip("[]")) and not (config.public_url or "").startswith("https://"):
        lines.append("lz hub: clients elsewhere refuse plain http: put a TLS proxy in front "
                     "(docs/hub-behind-a-proxy.md) and set public_url")
    lines.append("lz hub: press Ctrl-C (or send SIGTERM) to stop")
    click.echo("\n".join(lines))


def _serve_metrics(address: str, hub: Any, lease_s: float) -> None:
    from prometheus_client import CollectorRegistry

    from lz.hub.server import metrics_source
    from lz.metrics.hub import HubMetrics
    from lz.metrics.server import serve as serve_metrics

    registry = CollectorRegistry()
    engine = hub.engine
    HubMetrics(registry, online=metrics_source.online(engine, 3 * lease_s), queued=metrics_source.queued(engine),
               claims=metrics_source.events(engine, "claim"),
               expiries=metrics_source.events(engine, None, "lease of attempt % expired"),
               removed=lambda: dict(hub.removed),  # counted by this process's housekeeping
               statements=hub.statements.snapshot)  # and by its engine
    serve_metrics(address, registry)


@hub_group.command(name="status")
@_db_option
@click.option("--files", "files_dir", type=click.Path(path_type=Path), default=None,
              help="The hub's files directory (default: as lz hub serve).")
@_store_option
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              envvar="LZ_HUB_CONFIG", help="The hub's TOML settings (its [hub] store and store_credentials).")
@click.option("--online-s", type=click.FloatRange(min=1), default=90.0, show_default=True,
              help="A landing zone seen within this many seconds counts as online.")
@click.option("--json", "as_json", is_flag=True)
def hub_status(db_url: str | None, files_dir: Path | None, store: str | None, config_file: Path | None,
               online_s: float, as_json: bool) -> None:
    """Jobs by phase, landing zones online, store size, oldest kept result (on the hub host)."""
    from lz.cli.progress import human_bytes
    from lz.hub.server import db
    from lz.hub.server.config import load_file
    from lz.hub.server.domain import retention
    from lz.hub.server.storage.choose import open_store_url

    hub_dir = db.default_hub_dir()
    url = db.database_url(db_url, hub_dir)
    now = time.time()
    with db.read(_engine(db_url)) as conn:
        found = retention.status(conn, now, online_s)
    settings = dict(load_file(config_file)) if config_file else {}
    store = store if store is not None else settings.get("store")  # type: ignore[assignment]
    _check_store(store)
    credentials = settings.get("store_credentials")
    files = open_store_url(store, files_dir or db.files_dir_for(url, hub_dir),
                           Path(str(credentials)) if credentials else None)
    found["store_bytes"] = files.total_size()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    views = _views()
    jobs = found["jobs"]
    oldest = found["oldest_result_at"]
    click.echo("\n".join([
        f"jobs: {jobs['pending']} waiting, {jobs['leased']} running, {jobs['finished']} finished",
        f"landing zones online: {found['zones_online']} of {found['zones']}",
        f"store: {human_bytes(found['store_bytes'])} ({files.describe()})",
        f"oldest kept result: {views.iso(oldest) + f' ({views.age(now - oldest)} ago)' if oldest else '(none)'}"]))


@hub_group.group(name="user")
def user_group() -> None:
    """Hub users (on the hub host)."""


@user_group.command(name="add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May see and change everything on the hub.")
@click.option("--password-stdin", is_flag=True, help="Read a password for web sign-in (/activate) from stdin.")
@_db_option
def user_add(name: str, admin: bool, password_stdin: bool, db_url: str | None) -> None:
    """Add user NAME to the hub (then give them a token: lz hub token create --user NAME)."""
    from lz.hub.server import db
    from lz.hub.server.domain import accounts, login

    password = _stdin_password() if password_stdin else None
    with db.write(_engine(db_url)) as conn:
        accounts.add_user(conn, name, admin, time.time())
        if password is not None:
            login.set_password(conn, name, password)
    click.echo(f"user {name} added" + (" (admin)" if admin else ""))


@user_group.command(name="password")
@click.argument("name")
@_db_option
def user_password(name: str, db_url: str | None) -> None:
    """Set NAME's web sign-in password, read from stdin (stored as an argon2id hash); ends NAME's
    web sessions, device logins and the tokens they made (tokens made here stay)."""
    from lz.hub.server import db
    from lz.hub.server.domain import login

    password = _stdin_password()
    with db.write(_engine(db_url)) as conn:
        login.set_password(conn, name, password)
    click.echo(f"password of {name} set")


@user_group.command(name="disable")
@click.argument("name")
@_db_option
def user_disable(name: str, db_url: str | None) -> None:
    """End every web session, login and token of NAME at once, and refuse their sign-in."""
    from lz.hub.server import db
    from lz.hub.server.domain import accounts

    with db.write(_engine(db_url)) as conn:
        accounts.set_disabled(conn, name, True, time.time())
    click.echo(f"user {name} disabled: sessions and tokens ended, sign-in refused")


@user_group.command(name="enable")
@click.argument("name")
@_db_option
def user_enable(name: str, db_url: str | None) -> None:
    """Let NAME sign in again (what disabling ended stays ended: they log in anew)."""
    from lz.hub.server import db
    from lz.hub.server.domain import accounts

    with db.write(_engine(db_url)) as conn:
        accounts.set_disabled(conn, name, False, time.time())
    click.echo(f"user {name} enabled")


def _stdin_password() -> str:
    import sys

    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise UserError("no password on stdin")
    return line


@hub_group.command(name="approve")
@click.argument("code")
@click.option("--user", "user_name", required=True, help="Who approves (the login acts as this user).")
@click.option("--deny", is_flag=True, help="Deny the login instead.")
@_db_option
def approve(code: str, user_name: str, deny: bool, db_url: str | None) -> None:
    """Approve (or deny) a pending device login by its code, as on /activate."""
    from lz.hub.server import db
    from lz.hub.server.domain import accounts, login

    with db.write(_engine(db_url)) as conn:
        found = login.decide(conn, code, accounts.user_id(conn, user_name), not deny, time.time())
    click.echo(f"{found.client} from {found.address}: {'denied' if deny else 'approved for ' + user_name}")


@hub_group.group(name="token")
def token_group() -> None:
    """Hub tokens (on the hub host); only their hashes are stored."""


@token_group.command(name="create")
@click.option("--user", "user_name", required=True, help="Whose token.")
@click.option("--expires", default=None, help="Lifetime, e.g. 30d, 12h (default: never; only here, on the hub "
                                               "host: tokens made over the API are capped).")
@click.option("--for-landing-zones", is_flag=True, help="Only register, claim and report (for pilots).")
@_db_option
def token_create(user_name: str, expires: str | None, for_landing_zones: bool, db_url: str | None) -> None:
    """Print a new token, alone on the last line (store it in a 0600 file)."""
    from lz.hub.server import db
    from lz.hub.server.domain import accounts
    from lz.hub.server.domain.tokens import parse_duration

    lifetime = parse_duration(expires) if expires else None
    with db.write(_engine(db_url)) as conn:
        token_id, token = accounts.create_token(conn, user_name, time.time(), lifetime,
                                                "landing-zone" if for_landing_zones else "user")
    click.echo(f"token {token_id} for {user_name}" + (f", expires in {expires}" if expires else ""), err=True)
    click.echo(token)


@token_group.command(name="list")
@click.option("--user", "user_name", default=None, help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_db_option
def token_list(user_name: str | None, as_json: bool, db_url: str | None) -> None:
    """List the hub's tokens (every user's, or --user NAME's): id, scope, created, expires, revoked."""
    from lz.hub.server import db
    from lz.hub.server.domain import accounts

    with db.read(_engine(db_url)) as conn:
        rows = accounts.list_tokens(conn, user_name)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    iso = _views().iso
    click.echo(_table([("ID", "USER", "SCOPE", "CREATED", "EXPIRES", "REVOKED")] + [
        (str(r["id"]), r["user"], r["scope"], iso(r["created_at"]) or "", iso(r["expires_at"]) or "never",
         iso(r["revoked_at"]) or "") for r in rows]))


@token_group.command(name="revoke")
@click.argument("token_id", type=int)
@_db_option
def token_revoke(token_id: int, db_url: str | None) -> None:
    """Revoke token TOKEN_ID (its id from lz hub token list): it is refused from now on."""
    from lz.hub.server import db
    from lz.hub.server.domain import accounts

    with db.write(_engine(db_url)) as conn:
        accounts.revoke_token(conn, token_id, time.time())
    click.echo(f"token {token_id} revoked")


@hub_group.command(name="openapi")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write here (default stdout).")
def openapi(output: Path | None) -> None:
    """The API's OpenAPI document (docs/hub-openapi.json is this, committed)."""
    from lz.hub.server.openapi import document

    text = document()
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)


# -- lz station / lz zones: clients -------------------------------------------------------------
@click.group(name="station")
def station_group() -> None:
    """Stations: queues users submit to and landing zones take jobs from."""


def _client() -> Any:
    found = target(required=True)
    assert found is not None
    return found.client()


def _station_text(s: dict[str, Any]) -> str:
    members = ", ".join(f"{m['user']} ({m['role']})" for m in s["members"])
    jobs = s["jobs"]
    return "\n".join([f"station {s['name']}", f"  members: {members}",
                      f"  landing zones: {', '.join(s['landing_zones']) or '(none)'}",
                      f"  jobs: {jobs['pending']} waiting, {jobs['leased']} running, {jobs['finished']} finished",
                      f"  max attempts: {s.get('max_attempts', 3)} (failed attempts before a job ends lost)"])


@station_group.command(name="create")
@click.argument("name")
@hub_options
def station_create(name: str) -> None:
    """Create Station NAME; you are its owner."""
    click.echo(_station_text(_client().post("/api/v1/stations", {"name": name})))


@station_group.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@hub_options
def station_list(as_json: bool) -> None:
    """The Stations you belong to: landing zones, waiting, running and finished jobs."""
    rows = _client().get("/api/v1/stations")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(_table([("STATION", "LANDING ZONES", "WAITING", "RUNNING", "FINISHED")] + [
        (s["name"], ",".join(s["landing_zones"]), str(s["jobs"]["pending"]), str(s["jobs"]["leased"]),
         str(s["jobs"]["finished"])) for s in rows]))


@station_group.command(name="show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@hub_options
def station_show(name: str, as_json: bool) -> None:
    """One Station: its landing zones, jobs and settings."""
    data = _client().get(f"/api/v1/stations/{_seg(name)}")
    click.echo(json.dumps(data, indent=2) if as_json else _station_text(data))


@station_group.command(name="set")
@click.argument("name")
@click.option("--max-attempts", type=click.IntRange(1, 100), required=True,
              help="Failed attempts (lease ran out, job lost) a job may have before it ends lost.")
@hub_options
def station_set(name: str, max_attempts: int) -> None:
    """Change STATION's settings (its owner or an admin)."""
    click.echo(_station_text(_client().put(f"/api/v1/stations/{_seg(name)}", json={"max_attempts": max_attempts})))


@station_group.command(name="add-lz")
@click.argument("station")
@click.argument("lz")
@hub_options
def station_add_lz(station: str, lz: str) -> None:
    """Let landing zone LZ (yours) run STATION's jobs."""
    click.echo(_station_text(_client().put(f"/api/v1/stations/{_seg(station)}/zones/{_seg(lz)}")))


@station_group.command(name="remove-lz")
@click.argument("station")
@click.argument("lz")
@hub_options
def station_remove_lz(station: str, lz: str) -> None:
    """Stop landing zone LZ from running STATION's jobs."""
    click.echo(_station_text(_client().delete(f"/api/v1/stations/{_seg(station)}/zones/{_seg(lz)}")))


@station_group.command(name="add-member")
@click.argument("station")
@click.argument("user")
@hub_options
def station_add_member(station: str, user: str) -> None:
    """Add USER to STATION at once, as a contributor (a role with manage_members)."""
    click.echo(_station_text(_client().post(f"/api/v1/stations/{_seg(station)}/members", {"user": user})))


@click.command(name="zones")
@click.option("--json", "as_json", is_flag=True)
@hub_options
def zones_command(as_json: bool) -> None:
    """Landing zones: yours and those of your Stations."""
    rows = _client().get("/api/v1/zones")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    views = _views()
    now = time.time()
    click.echo(_table([("NAME", "ONLINE", "LAST SEEN", "VERSION", "RUNTIME", "CPUS", "GPUS", "MEMORY", "OS/ARCH",
                        "RUNNING", "QUEUE", "STATIONS")] + [
        (z["name"], "yes" if z["online"] else "no",
         f"{views.age(now - z['last_seen'])} ago" if z["last_seen"] else "never", z["version"] or "",
         z["runtime"] or "", str(z["cpus"] or ""), str(z["gpus"] or 0),
         f"{z['memory_mb'] // 1024}G" if z["memory_mb"] else "", f"{z['os'] or '?'}/{z['arch'] or '?'}",
         f"{z['running']}/{z['max_running']}", str(z["queue_length"]), ",".join(z["stations"]))
        for z in rows]))


def _seg(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _table(rows: list[tuple[str, ...]]) -> str:
    from lz.core.tables import columns

    return columns(rows)


@click.command(name="login")
@click.option("--hub", "hub_url", default=None, help="Hub URL (env LZ_HUB).")
@click.option("--token", "token_file", default=None,
              help="Where to keep the token (env LZ_TOKEN_FILE; default $XDG_CONFIG_HOME/lz/token).")
@insecure_option
def login_command(hub_url: str | None, token_file: str | None, allow_insecure_hub: bool | None) -> None:
    """Log in to the hub (device flow: open the URL, enter the code) and keep the token (0600)."""
    from lz.client.target import resolve
    from lz.hub.agent import login_client

    found = resolve(hub_url, token_file, allow_insecure=allow_insecure_hub)
    if found is None:
        raise UserError("no hub configured: give --hub URL or set LZ_HUB")
    import getpass
    import socket

    login_client.login(found.url, found.token_file,
                       client_name=f"lz login by {getpass.getuser()} on {socket.gethostname()}")
    click.echo(f"logged in; token kept in {found.token_file}")


@click.group(name="token")
def client_token_group() -> None:
    """Tokens made by a signed-in user (over the API)."""


@client_token_group.command(name="create")
@click.option("--for-landing-zones", is_flag=True, help="Only register, claim and report: for a batch of pilots.")
@click.option("--expires", default="7d", show_default=True,
              help="Lifetime, e.g. 7d, 12h (at most the hub's max_token_s, 90 days by default).")
@click.option("--label", default=None, help="What it is for (shown by lz token list).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the token to this file (0600) instead of stdout.")
@hub_options
def client_token_create(for_landing_zones: bool, expires: str, label: str | None, output: Path | None) -> None:
    """A non-rotating token (point every pilot of a job array at it with --token FILE); it ends with
    the login that made it."""
    answer = _client().post("/api/v1/tokens", {"for_landing_zones": for_landing_zones, "expires": expires,
                                               **({"label": label} if label else {})})
    if output is not None:
        from lz.hub.agent.client import write_token

        write_token(output, answer["token"])
        click.echo(f"token {answer['id']} ({answer['scope']}) written to {output}")
    else:
        click.echo(f"token {answer['id']} ({answer['scope']})", err=True)
        click.echo(answer["token"])


@client_token_group.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@hub_options
def client_token_list(as_json: bool) -> None:
    """Your tokens that still work (never their secrets)."""
    rows = _client().get("/api/v1/tokens")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    iso = _views().iso
    click.echo(_table([("ID", "KIND", "SCOPE", "LABEL", "CREATED", "EXPIRES", "LAST USED")] + [
        (str(r["id"]) + (" *" if r.get("current") else ""), r["kind"], r["scope"], r.get("label") or "",
         iso(r["created_at"]) or "", iso(r["expires_at"]) or "never", iso(r["last_used_at"]) or "")
        for r in rows]))


@client_token_group.command(name="revoke")
@click.argument("token_id", type=click.IntRange(min=1))
@hub_options
def client_token_revoke(token_id: int) -> None:
    """Revoke your token ID (a login's access token: that whole login ends)."""
    _client().delete(f"/api/v1/tokens/{token_id}")
    click.echo(f"token {token_id} revoked")


def register(main: click.Group) -> None:
    """Add ``hub``, ``station``, ``zones``, ``login`` and ``token`` to ``lz``."""
    from lz.cli import station as members_cli
    from lz.cli import usage_cmd

    main.add_command(login_command)
    usage_cmd.register_credits(station_group)
    main.add_command(usage_cmd.usage_command)
    main.add_command(client_token_group)
    members_cli.register(station_group)
    main.add_command(hub_group)
    main.add_command(station_group)
    main.add_command(zones_command)


