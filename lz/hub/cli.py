"""``lz hub …`` (on the hub host, against its database), ``lz station …`` and ``lz zones``
(clients, over HTTP). Heavy imports (FastAPI, uvicorn, requests) happen inside the commands."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from lz.errors import UserError
from lz.hub.options import hub_options, target


def _views() -> Any:
    from lz import views

    return views


# -- lz hub: the server and its accounts --------------------------------------------------------
def _db_option(func: Any) -> Any:
    return click.option("--db", "db_url", default=None, envvar="LZ_HUB_DB",
                        help="Database URL, e.g. postgresql+psycopg://… or a SQLite path "
                             "(default $XDG_STATE_HOME/lz/hub/hub.db; env LZ_HUB_DB).")(func)


def _engine(db_url: str | None) -> Any:
    from lz.hub import db

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
@click.option("--lease", "lease_s", type=float, default=30.0, show_default=True, help="Lease length in seconds.")
@click.option("-v", "--verbose", count=True, help="More log output.")
def serve(listen: str, db_url: str | None, files_dir: Path | None, lease_s: float, verbose: int) -> None:
    """Serve the HTTP API (OpenAPI document at /openapi.json)."""
    import logging

    import uvicorn

    from lz.hub import db
    from lz.hub.config import HubConfig
    from lz.hub.server import create_app

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--listen {listen!r}: expected HOST:PORT")
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    hub_dir = db.default_hub_dir()
    url = db.database_url(db_url, hub_dir)
    config = HubConfig(db_url=url, files_dir=files_dir or db.files_dir_for(url, hub_dir), lease_s=lease_s)
    app = create_app(config)
    # access logs carry URLs only (tokens travel in a header), but stay off unless asked for
    uvicorn.run(app, host=host.strip("[]"), port=int(port), access_log=verbose > 0,
                log_level="info" if verbose else "warning",
                timeout_graceful_shutdown=5)


@hub_group.group(name="user")
def user_group() -> None:
    """Hub users (on the hub host)."""


@user_group.command(name="add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May see and change everything on the hub.")
@_db_option
def user_add(name: str, admin: bool, db_url: str | None) -> None:
    from lz.hub import accounts, db

    with db.write(_engine(db_url)) as conn:
        accounts.add_user(conn, name, admin, time.time())
    click.echo(f"user {name} added" + (" (admin)" if admin else ""))


@hub_group.group(name="token")
def token_group() -> None:
    """Hub tokens (on the hub host); only their hashes are stored."""


@token_group.command(name="create")
@click.option("--user", "user_name", required=True, help="Whose token.")
@click.option("--expires", default=None, help="Lifetime, e.g. 30d, 12h (default: never).")
@click.option("--for-landing-zones", is_flag=True, help="Only register, claim and report (for pilots).")
@_db_option
def token_create(user_name: str, expires: str | None, for_landing_zones: bool, db_url: str | None) -> None:
    """Print a new token, alone on the last line (store it in a 0600 file)."""
    from lz.hub import accounts, db
    from lz.hub.tokens import parse_duration

    lifetime = parse_duration(expires) if expires else None
    with db.write(_engine(db_url)) as conn:
        token_id, token = accounts.create_token(conn, user_name, time.time(), lifetime,
                                                "landing-zone" if for_landing_zones else "user")
    click.echo(f"token {token_id} for {user_name}" + (f", expires in {expires}" if expires else ""), err=True)
    click.echo(token)


@token_group.command(name="list")
@click.option("--user", "user_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@_db_option
def token_list(user_name: str | None, as_json: bool, db_url: str | None) -> None:
    from lz.hub import accounts, db

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
    from lz.hub import accounts, db

    with db.write(_engine(db_url)) as conn:
        accounts.revoke_token(conn, token_id, time.time())
    click.echo(f"token {token_id} revoked")


@hub_group.command(name="openapi")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write here (default stdout).")
def openapi(output: Path | None) -> None:
    """The API's OpenAPI document (docs/hub-openapi.json is this, committed)."""
    from lz.hub.openapi import document

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
                      f"  jobs: {jobs['pending']} waiting, {jobs['leased']} running, {jobs['finished']} finished"])


@station_group.command(name="create")
@click.argument("name")
@hub_options
def station_create(name: str) -> None:
    click.echo(_station_text(_client().post("/api/v1/stations", {"name": name})))


@station_group.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@hub_options
def station_list(as_json: bool) -> None:
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
    data = _client().get(f"/api/v1/stations/{_seg(name)}")
    click.echo(json.dumps(data, indent=2) if as_json else _station_text(data))


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
    click.echo(_station_text(_client().delete(f"/api/v1/stations/{_seg(station)}/zones/{_seg(lz)}")))


@station_group.command(name="add-member")
@click.argument("station")
@click.argument("user")
@hub_options
def station_add_member(station: str, user: str) -> None:
    """Let USER submit to and see the jobs of STATION (its owner only)."""
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
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def register(main: click.Group) -> None:
    """Add ``hub``, ``station`` and ``zones`` to ``lz``."""
    from lz.hub import members_cli

    members_cli.register(station_group)
    main.add_command(hub_group)
    main.add_command(station_group)
    main.add_command(zones_command)


