"""The Stations tab: create a Station; per Station its members and roles, invitations, landing
zones and volumes, its quota, and its jobs. Every form posts back here with the session's CSRF token; a
refusal of the rules shows on the same page, in one line, with the status the API would give."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response

from lz.hub.protocol.schemas import NAME, ZONE_REF
from lz.hub.server.deps import hub_of
from lz.hub.server.domain import members, quotas, roles, stations, templates, volumes, zones
from lz.hub.server.errors import HubError, Invalid
from lz.hub.server.web import session
from lz.hub.server.web.job_list import JobQuery
from lz.hub.server.web.pages_jobs import listed
from lz.hub.server.web.render import page
from lz.hub.server.web.session import Viewer

router = APIRouter(include_in_schema=False)
VOLUME = r"^[A-Za-z][A-Za-z0-9_]{0,31}$"


def _name() -> Any:
    return Path(pattern=NAME)


def _stations_context(request: Request, viewer: Viewer) -> dict[str, Any]:
    hub = hub_of(request)
    return {"stations": hub.read(stations.list_for, viewer.who), "invitations": hub.read(members.pending, viewer.who)}


@router.get("/stations")
def stations_page(request: Request, viewer: Viewer = Depends(session.viewer)) -> Response:
    return page(request, "stations.html", viewer=viewer, **_stations_context(request, viewer))


Again = tuple[str, Callable[[], dict[str, Any]]]  # the page to show a refusal on, and its context


async def _act(request: Request, viewer: Viewer, action: Callable[[Any, dict[str, str]], str | None], back: str,
               again: Again) -> Response:
    """Run a form's action in one transaction; on success go on (POST/redirect/GET) to ``back`` or
    to where the action says, on a refusal show the page again with the reason and its status."""
    hub = hub_of(request)
    fields = await session.form(request, viewer)
    try:
        # a Station's pending jobs may now have a landing zone: waiting claims woken
        target = hub.write_waking(lambda conn: action(conn, fields))
    except HubError as exc:
        template, context = again
        return page(request, template, exc.status, viewer=viewer, flash=str(exc), flash_kind="err", **context())
    return RedirectResponse(target or back, status_code=303)


def _stations_again(request: Request, viewer: Viewer) -> Again:
    return "stations.html", lambda: _stations_context(request, viewer)


@router.post("/stations")
async def create_station(request: Request, viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)

    def _create(conn: Any, fields: dict[str, str]) -> str:
        name = fields.get("name", "").strip()
        stations.create(conn, viewer.who, name, hub.now())
        return f"/stations/{quote(name)}"

    return await _act(request, viewer, _create, "/stations", _stations_again(request, viewer))


@router.post("/invitations/{station}/{answer}")
async def answer_invitation(request: Request, station: str = _name(), answer: str = Path(pattern="^(accept|decline)$"),
                            viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)

    def _answer(conn: Any, _fields: dict[str, str]) -> None:
        if answer == "accept":
            members.accept(conn, viewer.who, station, hub.now())
        else:
            members.decline(conn, viewer.who, station)

    back = f"/stations/{quote(station)}" if answer == "accept" else "/stations"
    return await _act(request, viewer, _answer, back, _stations_again(request, viewer))


# -- one Station ---------------------------------------------------------------------------------
def _station_context(request: Request, viewer: Viewer, station: str) -> dict[str, Any]:
    hub = hub_of(request)
    now = hub.now()

    def _read(conn: Any) -> dict[str, Any]:
        sid = stations.visible(conn, viewer.who, station)  # 404 for a Station you are not in
        mine = [z for z in zones.listing(conn, viewer.who, now, hub.config.online_s) if z["owner"] == viewer.name]
        return {
            "station": stations.describe(conn, sid), "role": stations.role(conn, sid, viewer.who.user_id),
            "flags": roles.flags_of(conn, viewer.who, sid), "roles": roles.listing(conn, viewer.who, station),
            "volumes": volumes.listing(conn, viewer.who, station),
            "templates": templates.listing(conn, viewer.who, station),
            "my_zones": mine, "quota": quotas.describe(conn, viewer.who, station, quotas.Defaults.of(hub.config)),
        }

    context = hub.read(_read)
    context.update(listed(hub, viewer, JobQuery(station=station)))  # the Jobs tab's first page of this Station
    context["manager"] = "manage_members" in context["flags"]  # what the page offers; the domain decides
    context["quota_setter"] = viewer.who.admin or context["role"] in quotas.SETTERS
    return context


@router.get("/stations/{station}")
def station_page(request: Request, station: str = _name(), viewer: Viewer = Depends(session.viewer)) -> Response:
    return page(request, "station.html", viewer=viewer, **_station_context(request, viewer, station))


async def _on_station(request: Request, viewer: Viewer, station: str, section: str,
                      action: Callable[[Any, dict[str, str]], Any], back: str | None = None) -> Response:
    """A form of the Station's page: back to its ``section``; a refusal shows on the page."""
    again: Again = ("station.html", lambda: _station_context(request, viewer, station))
    return await _act(request, viewer, action, back or f"/stations/{quote(station)}#{section}", again)


@router.post("/stations/{station}/invite")
async def invite(request: Request, station: str = _name(), viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)
    return await _on_station(request, viewer, station, "members", lambda conn, fields: members.invite(
        conn, viewer.who, station, fields.get("user", "").strip(), fields.get("role", roles.DEFAULT), hub.now()))


@router.post("/stations/{station}/members/{member}/remove")
async def remove_member(request: Request, station: str = _name(), member: str = _name(),
                        viewer: Viewer = Depends(session.viewer)) -> Response:
    return await _on_station(request, viewer, station, "members", lambda conn, _f: members.remove(
        conn, viewer.who, station, member))


@router.post("/stations/{station}/members/{member}/role")
async def give_role(request: Request, station: str = _name(), member: str = _name(),
                    viewer: Viewer = Depends(session.viewer)) -> Response:
    return await _on_station(request, viewer, station, "members", lambda conn, fields: members.set_role(
        conn, viewer.who, station, member, fields.get("role", "").strip()))


@router.post("/stations/{station}/roles")
async def define_role(request: Request, station: str = _name(), viewer: Viewer = Depends(session.viewer)) -> Response:
    """A custom role: its name and a checkbox per flag."""
    hub = hub_of(request)
    return await _on_station(request, viewer, station, "roles", lambda conn, fields: roles.define(
        conn, viewer.who, station, fields.get("name", "").strip(), [f for f in roles.FLAGS if fields.get(f)],
        hub.now()))


@router.post("/stations/{station}/roles/{role}/remove")
async def drop_role(request: Request, station: str = _name(), role: str = Path(pattern=r"^[a-z][a-z0-9_-]{0,15}$"),
                    viewer: Viewer = Depends(session.viewer)) -> Response:
    return await _on_station(request, viewer, station, "roles", lambda conn, _f: roles.drop(
        conn, viewer.who, station, role))


@router.post("/stations/{station}/templates")
async def put_template(request: Request, station: str = _name(), viewer: Viewer = Depends(session.viewer)) -> Response:
    """A template from the form: each bound as on ``lz submit`` (4G, 1:00:00), empty: none."""
    hub = hub_of(request)

    def _put(conn: Any, fields: dict[str, str]) -> None:
        from pydantic import ValidationError

        from lz.core.errors import UserError
        from lz.hub.protocol.schemas import TemplateIn
        from lz.hub.protocol.templates import template_body

        given = {k: v.strip() for k, v in fields.items() if v.strip()}
        runtimes = tuple(r for r in ("dockerfile", "singularity", "command") if given.get(f"runtime_{r}"))
        try:
            body = TemplateIn.model_validate(template_body(given, given.get("description", "")[:200], runtimes))
        except (UserError, ValidationError) as exc:
            raise Invalid(str(exc).splitlines()[0]) from None
        templates.put(conn, viewer.who, station, given.get("name", ""), body, hub.now())

    return await _on_station(request, viewer, station, "templates", _put)


@router.post("/stations/{station}/templates/{template}/remove")
async def remove_template(request: Request, station: str = _name(), template: str = _name(),
                          viewer: Viewer = Depends(session.viewer)) -> Response:
    return await _on_station(request, viewer, station, "templates", lambda conn, _f: templates.remove(
        conn, viewer.who, station, template))


@router.post("/stations/{station}/leave")
async def leave(request: Request, station: str = _name(), viewer: Viewer = Depends(session.viewer)) -> Response:
    return await _on_station(request, viewer, station, "members", lambda conn, _f: members.leave(
        conn, viewer.who, station), back="/stations")


@router.post("/stations/{station}/zones")
async def add_zone(request: Request, station: str = _name(), viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)
    return await _on_station(request, viewer, station, "zones", lambda conn, fields: stations.add_zone(
        conn, viewer.who, station, fields.get("lz", "").strip(), hub.now()))


@router.post("/stations/{station}/zones/{lz:path}/remove")
async def remove_zone(request: Request, station: str = _name(), lz: str = Path(pattern=ZONE_REF),
                      viewer: Viewer = Depends(session.viewer)) -> Response:
    return await _on_station(request, viewer, station, "zones", lambda conn, _f: stations.remove_zone(
        conn, viewer.who, station, lz))


@router.post("/stations/{station}/volumes")
async def add_volume(request: Request, station: str = _name(), viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)
    return await _on_station(request, viewer, station, "volumes", lambda conn, fields: volumes.add(
        conn, viewer.who, station, fields.get("name", "").strip(), fields.get("mount", "").strip(),
        fields.get("access", "ro"), hub.now()))


@router.post("/stations/{station}/volumes/{volume}/map")
async def map_volume(request: Request, station: str = _name(), volume: str = Path(pattern=VOLUME),
                     viewer: Viewer = Depends(session.viewer)) -> Response:
    return await _on_station(request, viewer, station, "volumes", lambda conn, fields: volumes.map_to(
        conn, viewer.who, station, volume, fields.get("lz", "").strip(), fields.get("host_path", "").strip()))


@router.post("/stations/{station}/volumes/{volume}/remove")
async def remove_volume(request: Request, station: str = _name(), volume: str = Path(pattern=VOLUME),
                        viewer: Viewer = Depends(session.viewer)) -> Response:
    return await _on_station(request, viewer, station, "volumes", lambda conn, _f: volumes.remove(
        conn, viewer.who, station, volume))


@router.post("/stations/{station}/quota")
async def set_quota(request: Request, station: str = _name(), viewer: Viewer = Depends(session.viewer)) -> Response:
    """The quota form: each field a number (a size such as 500G for bytes), or empty for the hub's default."""
    hub = hub_of(request)

    def _set(conn: Any, fields: dict[str, str]) -> None:
        quotas.set_quota(conn, viewer.who, station, _quota_fields(fields), quotas.Defaults.of(hub.config))

    return await _on_station(request, viewer, station, "quota", _set)


def _quota_fields(fields: dict[str, str]) -> dict[str, int | None]:
    from lz.hub.protocol.sizes import parse_size

    values: dict[str, int | None] = {}
    for kind in quotas.KINDS:
        text = fields.get(kind, "").strip()
        if not text:
            values[kind] = None
        elif kind == "bytes":
            try:
                values[kind] = parse_size(text)
            except ValueError as exc:
                raise Invalid(f"bytes: {exc}") from None
        elif text.isdigit() and int(text) <= 1 << 31:
            values[kind] = int(text)
        else:
            raise Invalid(f"{kind}: {text[:40]!r} is not a count (0 to {1 << 31}), or empty for the hub's default")
    return values
