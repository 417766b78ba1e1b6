"""A Station's roles (permission flags), its members' roles, and its job templates (issue 26)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from lz.hub.protocol.schemas import ROLE, MemberOut, MemberRoleIn, RoleIn, RoleOut, TemplateIn, TemplateOut
from lz.hub.server.api import params
from lz.hub.server.deps import hub_of, user
from lz.hub.server.domain import members, roles, templates
from lz.hub.server.domain.accounts import Principal

router = APIRouter()


def _role() -> Any:
    return Path(pattern=ROLE)


@router.get("/stations/{station}/roles", response_model=list[RoleOut], tags=["roles"])
def list_roles(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    """Every role of the Station with its flags: the built-in ones, then its custom ones."""
    return hub_of(request).read(roles.listing, who, station)


@router.put("/stations/{station}/roles/{role}", response_model=list[RoleOut], tags=["roles"])
def put_role(body: RoleIn, request: Request, station: str = params.name(), role: str = _role(),
             who: Principal = Depends(user)) -> Any:
    """Add or change a custom role (manage_members)."""
    hub = hub_of(request)

    def _put(conn: Any) -> Any:
        roles.define(conn, who, station, role, body.flags, hub.now())
        return roles.listing(conn, who, station)

    return hub.write(_put)


@router.delete("/stations/{station}/roles/{role}", response_model=list[RoleOut], tags=["roles"])
def delete_role(request: Request, station: str = params.name(), role: str = _role(),
                who: Principal = Depends(user)) -> Any:
    """Remove a custom role that no member holds (manage_members)."""
    def _drop(conn: Any) -> Any:
        roles.drop(conn, who, station, role)
        return roles.listing(conn, who, station)

    return hub_of(request).write(_drop)


@router.put("/stations/{station}/members/{member}", response_model=list[MemberOut], tags=["members"])
def set_member_role(body: MemberRoleIn, request: Request, station: str = params.name(), member: str = params.name(),
                    who: Principal = Depends(user)) -> Any:
    """Give a member another role (manage_members; making or changing an admin: the owner)."""
    def _set(conn: Any) -> Any:
        members.set_role(conn, who, station, member, body.role)
        return members.listing(conn, who, station)

    return hub_of(request).write(_set)


@router.get("/stations/{station}/templates", response_model=list[TemplateOut], tags=["templates"])
def list_templates(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    return hub_of(request).read(templates.listing, who, station)


@router.put("/stations/{station}/templates/{template}", response_model=list[TemplateOut], tags=["templates"])
def put_template(body: TemplateIn, request: Request, station: str = params.name(), template: str = params.name(),
                 who: Principal = Depends(user)) -> Any:
    """Add or replace a template (manage_templates)."""
    hub = hub_of(request)

    def _put(conn: Any) -> Any:
        templates.put(conn, who, station, template, body, hub.now())
        return templates.listing(conn, who, station)

    return hub.write(_put)


@router.delete("/stations/{station}/templates/{template}", response_model=list[TemplateOut], tags=["templates"])
def delete_template(request: Request, station: str = params.name(), template: str = params.name(),
                    who: Principal = Depends(user)) -> Any:
    def _remove(conn: Any) -> Any:
        templates.remove(conn, who, station, template)
        return templates.listing(conn, who, station)

    return hub_of(request).write(_remove)
