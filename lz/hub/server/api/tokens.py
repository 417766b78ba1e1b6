"""A signed-in user's own tokens: make one for a batch of pilots (``POST /api/v1/tokens``), list
them (``GET``) and revoke one (``DELETE /api/v1/tokens/{id}``).

A token minted here never outlives ``max_token_s`` (90 days by default) and belongs to the device
login that minted it: when that login ends (logged out, reuse detected, password changed, user
disabled) the token ends with it. Only ``lz hub token create`` on the hub host makes tokens that
never expire."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from lz.core.errors import UserError
from lz.hub.protocol.schemas import Ok
from lz.hub.server.deps import hub_of, user
from lz.hub.server.domain import accounts
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.domain.tokens import LABEL_MAX, Origin, parse_duration, valid_name
from lz.hub.server.errors import Invalid

router = APIRouter(tags=["tokens"])


class TokenCreate(BaseModel):
    for_landing_zones: bool = True
    expires: str | None = Field(default="7d", max_length=16,
                                description="e.g. 7d, 12h; null: the longest the hub allows (max_token_s)")
    label: str | None = Field(default=None, max_length=LABEL_MAX, description="What it is for (letters, digits, . _ -).")


class TokenCreated(BaseModel):
    id: int
    token: str
    scope: str
    expires_at: float


class TokenOut(BaseModel):
    """One of the caller's tokens that still works: never its secret or digest."""

    id: int
    label: str | None
    kind: str = Field(description="admin (lz hub token create), device (a login's access token), api "
                                  "(POST /api/v1/tokens) or unknown (made before this was recorded)")
    scope: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None = Field(description="To the nearest five minutes.")
    current: bool = Field(description="The token this request came with.")


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, request: Request, who: Principal = Depends(user)) -> Any:
    """A token for a batch of pilots (non-rotating; landing-zone scope unless asked otherwise)."""
    hub = hub_of(request)
    cap = hub.config.max_token_s
    try:
        lifetime = parse_duration(body.expires) if body.expires else cap
    except UserError as exc:
        raise Invalid(str(exc)) from None
    if lifetime > cap:
        raise Invalid(f"expires {body.expires!r} is longer than this hub allows ({cap / 86400:g} days)")
    if body.label is not None and not valid_name(body.label):
        raise Invalid("label may hold only letters, digits, . _ - (at most 64)")
    now = hub.now()
    scope = "landing-zone" if body.for_landing_zones else "user"
    token_id, token = hub.write(accounts.create_token, who.name, now, lifetime, scope, Origin.API, who.family,
                                body.label)
    return TokenCreated(id=token_id, token=token, scope=scope, expires_at=now + lifetime)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(request: Request, who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)
    return hub.read(accounts.own_tokens, who, hub.now())


@router.delete("/tokens/{token_id}", response_model=Ok)
def revoke_token(request: Request, token_id: int = Path(ge=1, le=2**62),
                 who: Principal = Depends(user)) -> Ok:
    """Revoke one of the caller's tokens (another user's: 404, as if there were none)."""
    hub = hub_of(request)
    hub.write(accounts.revoke_own, who, token_id, hub.now())
    return Ok()
