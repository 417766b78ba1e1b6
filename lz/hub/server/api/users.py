"""Who the caller is."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from lz.hub.protocol.schemas import (
    TokenInfo,
)
from lz.hub.server.deps import principal
from lz.hub.server.domain.accounts import Principal

router = APIRouter()


@router.get("/whoami", response_model=TokenInfo, tags=["users"])
def whoami(who: Principal = Depends(principal)) -> TokenInfo:
    return TokenInfo(user=who.name, admin=who.admin, scope=who.scope)
