"""Endpoints for Station membership: invitations, members, leaving (rules in ``lz.hub.members``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from lz.hub import members
from lz.hub.accounts import Principal
from lz.hub.schemas import NAME, InvitationIn, InvitationOut, MemberOut
from lz.hub.server import hub_of, user

router = APIRouter()


def _name() -> Any:
    return Path(pattern=NAME)


@router.post("/stations/{station}/invitations", response_model=InvitationOut, status_code=201, tags=["members"])
def invite(body: InvitationIn, request: Request, station: str = _name(), who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)
    return hub.write(members.invite, who, station, body.user, body.role, hub.now())


@router.get("/invitations", response_model=list[InvitationOut], tags=["members"])
def invitations(request: Request, who: Principal = Depends(user)) -> Any:
    return hub_of(request).read(members.pending, who)


@router.post("/invitations/{station}/accept", response_model=list[MemberOut], tags=["members"])
def accept(request: Request, station: str = _name(), who: Principal = Depends(user)) -> Any:
    """Join the Station with the invitation's role; answers its members."""
    hub = hub_of(request)

    def _accept(conn: Any) -> Any:
        members.accept(conn, who, station, hub.now())
        return members.listing(conn, who, station)

    return hub.write(_accept)


@router.post("/invitations/{station}/decline", response_model=list[InvitationOut], tags=["members"])
def decline(request: Request, station: str = _name(), who: Principal = Depends(user)) -> Any:
    """Answers the invitations still waiting for you."""
    def _decline(conn: Any) -> Any:
        members.decline(conn, who, station)
        return members.pending(conn, who)

    return hub_of(request).write(_decline)


@router.get("/stations/{station}/members", response_model=list[MemberOut], tags=["members"])
def list_members(request: Request, station: str = _name(), who: Principal = Depends(user)) -> Any:
    return hub_of(request).read(members.listing, who, station)


@router.delete("/stations/{station}/members/{member}", response_model=list[MemberOut], tags=["members"])
def remove_member(request: Request, station: str = _name(), member: str = _name(),
                  who: Principal = Depends(user)) -> Any:
    """Answers the members left."""
    def _remove(conn: Any) -> Any:
        members.remove(conn, who, station, member)
        return members.listing(conn, who, station)

    return hub_of(request).write(_remove)


@router.post("/stations/{station}/leave", response_model=list[InvitationOut], tags=["members"])
def leave(request: Request, station: str = _name(), who: Principal = Depends(user)) -> Any:
    """Answers the invitations waiting for you (the Station is gone from your view)."""
    def _leave(conn: Any) -> Any:
        members.leave(conn, who, station)
        return members.pending(conn, who)

    return hub_of(request).write(_leave)
