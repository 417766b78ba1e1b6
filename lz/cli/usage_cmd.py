"""``lz usage``: CPU-, memory- and GPU-hours and credits, summed per day, Station, user and
landing zone, from the hub (issue 26); ``lz station credits``: a Station's prices and limits."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any
from urllib.parse import quote

import click

from lz.cli.common import common
from lz.cli.hub_target import hub_options
from lz.core.errors import UserError

COLUMNS = ("day", "station", "user", "landing_zone", "cpu_hours", "memory_gib_hours", "gpu_hours", "credits")
GROUPS = ("day", "station", "user", "landing_zone")
LOCAL_COLUMNS = ("day", "jobs", "cpu_hours", "memory_gib_hours", "gpu_hours")
AMOUNTS = {"cpu_hour": "cpu-hour", "memory_gib_hour": "memory-gib-hour", "gpu_hour": "gpu-hour", "limit": "limit"}


def since_day(text: str, today: dt.date) -> str:
    """``YYYY-MM-DD`` as given, or ``Nd`` (N days before today, UTC) as a day."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise UserError(f"--since: not a day: {text!r}") from None
        return text
    found = re.fullmatch(r"(\d{1,5})d", text)
    if found is None:
        raise UserError(f"--since: a day (YYYY-MM-DD) or a number of days (7d), not {text[:32]!r}")
    return (today - dt.timedelta(days=int(found.group(1)))).isoformat()


def _names(by: tuple[str, ...], local: bool) -> list[str]:
    if local:
        return list(LOCAL_COLUMNS)
    return [c for c in COLUMNS if c not in GROUPS or c in by]


def _local(station: str | None, user: str | None, since: str | None) -> list[dict[str, Any]]:
    import time

    from lz.cli.common import settings, store
    from lz.core.usage_sums import per_day

    if station or user:
        raise UserError("--station and --user need a hub (--hub URL or LZ_HUB)")
    jobs = store(settings())
    return per_day(jobs.jobs(), time.time(), since)


def usage_csv(rows: list[dict[str, Any]], by: tuple[str, ...], local: bool = False) -> str:
    out = io.StringIO()
    names = _names(by, local)
    writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def usage_text(rows: list[dict[str, Any]], by: tuple[str, ...], local: bool = False) -> str:
    from lz.core.tables import columns

    if not rows:
        return "no usage recorded"
    names = _names(by, local)
    heads = tuple(c.upper().replace("_", " ").replace("MEMORY GIB HOURS", "GIB HOURS") for c in names)
    return columns([heads, *(tuple(str(r.get(c, "")) for c in names) for r in rows)])


@click.command(name="usage")
@click.option("--station", default=None, help="Only this Station.")
@click.option("--user", "user_name", default=None, help="Only this user (what you may see of them).")
@click.option("--since", default=None, metavar="DAY|Nd", help="From this UTC day (YYYY-MM-DD) or N days ago (7d).")
@click.option("--by", "by", default=",".join(GROUPS), show_default=True,
              help="Sum per these, comma-separated: day, station, user, landing_zone.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
@common
@hub_options
def usage_command(station: str | None, user_name: str | None, since: str | None, by: str, as_json: bool,
                  as_csv: bool) -> None:
    """CPU-, memory- and GPU-hours and credits of jobs run through the hub (yours; all of a
    Station's where your role sees others' jobs); without a hub, this landing zone's jobs per day."""
    from lz.cli.hub_target import target

    wanted = tuple(g for g in GROUPS if g in {b.strip() for b in by.split(",")})
    unknown = {b.strip() for b in by.split(",")} - set(GROUPS) - {""}
    if unknown:
        raise UserError(f"--by: unknown {sorted(unknown)[0]!r} (known: {', '.join(GROUPS)})")
    found = target()
    day = since_day(since, dt.datetime.now(dt.UTC).date()) if since else None
    if found is None:  # no hub: this landing zone's own jobs, per day
        rows = _local(station, user_name, day)
        wanted = ("day",)
        click.echo(json.dumps(rows, indent=2) if as_json else usage_csv(rows, wanted, local=True) if as_csv
                   else usage_text(rows, wanted, local=True), nl=not as_csv)
        return
    params: dict[str, Any] = {"by": list(wanted)}
    if station:
        params["station"] = station
    if user_name:
        params["user"] = user_name
    if day:
        params["since"] = day
    rows = found.client().get("/api/v1/usage", params=params)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif as_csv:
        click.echo(usage_csv(rows, wanted), nl=False)
    else:
        click.echo(usage_text(rows, wanted))


def register_credits(station_group: click.Group) -> None:
    """Add ``lz station credits`` to ``lz station``."""

    @station_group.command(name="credits")
    @click.argument("station")
    @click.option("--role", default=None, help="Set the rule of this role (else the Station's own).")
    @click.option("--user", "user_name", default=None, help="Set the rule of this member.")
    @click.option("--cpu-hour", default=None, metavar="CREDITS|none", help="Price of a CPU-hour.")
    @click.option("--memory-gib-hour", default=None, metavar="CREDITS|none", help="Price of a GiB-hour of memory.")
    @click.option("--gpu-hour", default=None, metavar="CREDITS|none", help="Price of a GPU-hour.")
    @click.option("--limit", default=None, metavar="CREDITS|none",
                  help="The most that may be spent: the Station's members together, or each user of a role, or one user.")
    @click.option("--json", "as_json", is_flag=True)
    @hub_options
    def credits_command(station: str, role: str | None, user_name: str | None, cpu_hour: str | None,
                        memory_gib_hour: str | None, gpu_hour: str | None, limit: str | None, as_json: bool) -> None:
        """Show STATION's prices, credit limits and spending; with values, set one rule (a role
        with manage_members). Amounts are credits with at most three decimals; ``none`` clears."""
        from lz.cli.hub_target import target

        if role and user_name:
            raise UserError("give --role or --user, not both")
        given = {"cpu_hour": cpu_hour, "memory_gib_hour": memory_gib_hour, "gpu_hour": gpu_hour, "limit": limit}
        values: dict[str, Any] = {k: None if v.lower() == "none" else v for k, v in given.items() if v is not None}
        found = target(required=True)
        assert found is not None
        path = f"/api/v1/stations/{quote(station, safe='')}/credits"
        if values or role or user_name:
            scope = "role" if role else "user" if user_name else "station"
            got = found.client().put(path, json={"scope": scope, "name": role or user_name, **values})
        else:
            got = found.client().get(path)
        click.echo(json.dumps(got, indent=2) if as_json else credits_text(got))


def credits_text(got: dict[str, Any]) -> str:
    from lz.core.tables import columns

    lines = [f"station {got['station']}: spent {got['spent']} credits ({got['spent_by_you']} by you)"]
    if got["rules"]:
        rows = [("RULE", "CPU-HOUR", "GIB-HOUR", "GPU-HOUR", "LIMIT")]
        for r in got["rules"]:
            rows.append((r["scope"] + (f" {r['name']}" if r["name"] else ""),
                         *(r[k] or "-" for k in ("cpu_hour", "memory_gib_hour", "gpu_hour", "limit"))))
        lines.append(columns(rows))
    else:
        lines.append("no prices or limits: jobs are free")
    return "\n".join(lines)
