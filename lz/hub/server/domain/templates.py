"""Job templates of a Station (issue 26; the original's mission types): per resource a default, a
least and a most, the runtimes a job may use, ``distributed`` (without it a job runs one task on
one node) and the ``ports`` a job may serve.

A submission with a template gets the template's defaults under its own ``lz.toml`` and flags
(what the job says wins), then the result is held to the bounds; the hub does this on every
submission (``uploads.receive``), so no client can skip it. Submitting with a template takes the
``templates`` flag, adding or removing one ``manage_templates``; any member may read them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lz.core.resources import Resources, format_memory, format_time
from lz.hub.protocol.schemas import NAME, TemplateIn
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.domain.roles import require, visible
from lz.hub.server.errors import Invalid, NotFound
from lz.hub.server.models import StationTemplate

templates_t: Any = StationTemplate.__table__
RESOURCES = ("cpus", "memory_mb", "gpus", "time_s")


def _show(field: str, value: int) -> str:
    return format_memory(value) if field == "memory_mb" else format_time(value) if field == "time_s" else str(value)


def check_template(body: TemplateIn) -> None:
    """Refuse (Invalid) a template whose bounds contradict themselves."""
    for field in RESOURCES:
        b = getattr(body, field)
        if b.min is not None and b.max is not None and b.min > b.max:
            raise Invalid(f"{field}: min {b.min} is more than max {b.max}")
        if b.default is not None and ((b.min is not None and b.default < b.min)
                                      or (b.max is not None and b.default > b.max)):
            raise Invalid(f"{field}: default {b.default} is outside min..max")
    if any(not 1 <= p <= 65535 for p in body.ports):
        raise Invalid("ports: each a TCP port, 1 to 65535")


def defaults(body: TemplateIn) -> Resources:
    """The resources a job of this template starts from (its own ``lz.toml`` and flags on top)."""
    base = Resources()
    given = {f: getattr(body, f).default for f in RESOURCES}
    return base.with_overrides(**{f: v for f, v in given.items() if v is not None})


def check_job(name: str, body: TemplateIn, resources: dict[str, Any], recipe_kind: str | None,
              ports: Sequence[int] = ()) -> None:
    """Refuse (Invalid, one line) a job outside template ``name``'s bounds or runtimes, one of
    several tasks or nodes (``tasks``, ``nodes``, ``distributed = true``) when it is not distributed,
    or one serving a port not among the template's (``ports`` of the job's spec, where it has them)."""
    for field in RESOURCES:
        b, asked = getattr(body, field), resources.get(field)
        if asked is None:  # the site's default: bounded only when the template has a most
            if b.max is not None and field in ("memory_mb", "time_s"):
                raise Invalid(f"template {name!r}: give {field.removesuffix('_mb').removesuffix('_s')} "
                              f"(at most {_show(field, b.max)})")
            continue
        if b.min is not None and asked < b.min:
            raise Invalid(f"template {name!r}: {field} {_show(field, asked)} is less than its min {_show(field, b.min)}")
        if b.max is not None and asked > b.max:
            raise Invalid(f"template {name!r}: {field} {_show(field, asked)} is more than its max {_show(field, b.max)}")
    runtime = recipe_kind or "command"
    if body.runtimes and runtime not in body.runtimes:
        raise Invalid(f"template {name!r}: runtime {runtime} is not allowed (allowed: {', '.join(body.runtimes)})")
    asked = Resources.from_dict(resources)
    if not body.distributed and asked.multi_task:
        raise Invalid(f"template {name!r} is not distributed: one task on one node "
                      f"(this job asks for {asked.task_count} tasks on {asked.nodes or 1} node(s))")
    outside = sorted(set(ports) - set(body.ports))
    if outside:
        allowed = f"ports {', '.join(str(p) for p in sorted(body.ports))} only" if body.ports else "no ports"
        raise Invalid(f"template {name!r} opens {allowed}, not {', '.join(str(p) for p in outside)}")


def _valid_name(name: str) -> None:
    import re

    if not re.match(NAME, name):
        raise Invalid(f"template name {name!r} may hold only letters, digits, . _ - (at most 64)")


def put(conn: Connection, who: Principal, station: str, name: str, body: TemplateIn, now: float) -> None:
    """Add or replace a template (``manage_templates``)."""
    sid = require(conn, who, station, "manage_templates")
    _valid_name(name)
    check_template(body)
    text = body.model_dump_json()
    where = (templates_t.c.station_id == sid, templates_t.c.name == name)
    if conn.execute(select(templates_t.c.name).where(*where)).first():
        conn.execute(update(templates_t).where(*where).values(body=text))
    else:
        conn.execute(insert(templates_t).values(station_id=sid, name=name, body=text, created_at=now))


def remove(conn: Connection, who: Principal, station: str, name: str) -> None:
    sid = require(conn, who, station, "manage_templates")
    gone = conn.execute(delete(templates_t).where(templates_t.c.station_id == sid, templates_t.c.name == name))
    if not gone.rowcount:
        raise NotFound(f"station {station!r} has no template {name!r}")


def listing(conn: Connection, who: Principal, station: str) -> list[dict[str, Any]]:
    """Every template of the Station (any member may read them)."""
    sid = visible(conn, who, station)
    rows = conn.execute(select(templates_t).where(templates_t.c.station_id == sid).order_by(templates_t.c.name)).all()
    return [{"name": r.name, **json.loads(r.body)} for r in rows]


def visible_to(conn: Connection, who: Principal) -> list[dict[str, Any]]:
    """Every template of the Stations ``who`` belongs to (all, for a hub admin), with its Station."""
    from lz.hub.server.models import Station, StationMember

    stations_t: Any = Station.__table__
    members_t: Any = StationMember.__table__
    query = (select(templates_t, stations_t.c.name.label("station"))
             .join(stations_t, stations_t.c.id == templates_t.c.station_id))
    if not who.admin:
        query = query.where(templates_t.c.station_id.in_(
            select(members_t.c.station_id).where(members_t.c.user_id == who.user_id)))
    rows = conn.execute(query.order_by(stations_t.c.name, templates_t.c.name)).all()
    return [{"name": r.name, "station": r.station, **json.loads(r.body)} for r in rows]


def of_station(conn: Connection, station_id: int, station: str, name: str) -> TemplateIn:
    row = conn.execute(select(templates_t.c.body).where(templates_t.c.station_id == station_id,
                                                        templates_t.c.name == name)).first()
    if row is None:
        raise NotFound(f"station {station!r} has no template {name!r} (lz station template list {station})")
    return TemplateIn.model_validate_json(row.body)


def for_submission(conn: Connection, who: Principal, station: str, template: str | None) -> tuple[int, TemplateIn | None]:
    """The Station's id and the template a submission uses: ``launch`` without one, ``templates``
    with one, and ``ports`` too when the template opens ports."""
    if template is None:
        return require(conn, who, station, "launch"), None
    sid = require(conn, who, station, "templates")
    chosen = of_station(conn, sid, station, template)
    if chosen.ports:
        require(conn, who, station, "ports")
    return sid, chosen
