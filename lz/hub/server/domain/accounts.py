"""Users and tokens on the hub's database: what ``lz hub user|token`` do and what every request's
authentication reads. A token is found by its digest; the token itself is never stored or logged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from lz.core.errors import UserError
from lz.hub.server.domain import tokens
from lz.hub.server.domain.tokens import Origin
from lz.hub.server.errors import NotFound
from lz.hub.server.models import RefreshToken, Token, User, WebSession

users_t: Any = User.__table__
tokens_t: Any = Token.__table__
refresh_t: Any = RefreshToken.__table__
sessions_t: Any = WebSession.__table__
TOUCH_EVERY_S = 300.0  # ``last_used_at`` is written at most this often per token (a write per request is not)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user, through a token of some scope."""

    user_id: int
    name: str
    admin: bool
    scope: str
    token_id: int
    family: str | None = None  # the device login the token belongs to, if any
    last_used_at: float | None = None
    expires_at: float | None = None  # the token's


def new_id(result: Any) -> int:
    """The primary key an INSERT created."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def add_user(conn: Connection, name: str, admin: bool, now: float) -> int:
    if not tokens.valid_name(name):
        raise UserError(f"user name {name!r} may hold only letters, digits, . _ - (at most 64)")
    if conn.execute(select(users_t.c.id).where(users_t.c.name == name)).first():
        raise UserError(f"user {name!r} already exists")
    return new_id(conn.execute(insert(users_t).values(name=name, admin=admin, created_at=now)))


def user_id(conn: Connection, name: str) -> int:
    row = conn.execute(select(users_t.c.id).where(users_t.c.name == name)).first()
    if row is None:
        raise UserError(f"no user {name!r} on this hub")
    return int(row.id)


def create_token(conn: Connection, user: str, now: float, expires_s: float | None = None,
                 scope: str = "user", origin: Origin = Origin.ADMIN, family: str | None = None,
                 label: str | None = None) -> tuple[int, str]:
    """A new token for ``user``: (its id, the token). Only its digest is stored."""
    if scope not in tokens.SCOPES:
        raise UserError(f"scope {scope!r} is not one of {', '.join(tokens.SCOPES)}")
    uid = user_id(conn, user)
    token = tokens.new_token()
    result = conn.execute(insert(tokens_t).values(
        user_id=uid, digest=tokens.digest(token), scope=scope, created_at=now,
        expires_at=now + expires_s if expires_s else None, origin=origin.value, family=family, label=label))
    return new_id(result), token


def list_tokens(conn: Connection, user: str | None = None) -> list[dict[str, Any]]:
    query = select(tokens_t, users_t.c.name.label("user")).join(users_t, users_t.c.id == tokens_t.c.user_id)
    if user:
        query = query.where(users_t.c.name == user)
    rows = conn.execute(query.order_by(tokens_t.c.id)).all()
    return [{"id": r.id, "user": r.user, "scope": r.scope, "created_at": r.created_at, "expires_at": r.expires_at,
             "revoked_at": r.revoked_at, "last_used_at": r.last_used_at, "kind": r.origin or "unknown",
             "label": r.label} for r in rows]


def _live(now: float) -> tuple[Any, ...]:
    return tokens_t.c.revoked_at.is_(None), or_(tokens_t.c.expires_at.is_(None), tokens_t.c.expires_at > now)


def own_tokens(conn: Connection, who: Principal, now: float) -> list[dict[str, Any]]:
    """``who``'s tokens that still work (``GET /api/v1/tokens``): never a secret or a digest."""
    rows = conn.execute(select(tokens_t).where(tokens_t.c.user_id == who.user_id, *_live(now))
                        .order_by(tokens_t.c.id)).all()
    return [{"id": r.id, "label": r.label, "kind": r.origin or "unknown", "scope": r.scope,
             "created_at": r.created_at, "expires_at": r.expires_at, "last_used_at": r.last_used_at,
             "current": r.id == who.token_id} for r in rows]


def revoke_own(conn: Connection, who: Principal, token_id: int, now: float) -> None:
    """Revoke one of ``who``'s own tokens; anybody else's, or none, is 404 alike. Revoking a device
    login's access token ends that login: its refresh family and what it minted."""
    row = conn.execute(select(tokens_t.c.id, tokens_t.c.origin, tokens_t.c.family).where(
        tokens_t.c.id == token_id, tokens_t.c.user_id == who.user_id, *_live(now))).first()
    if row is None:
        raise NotFound(f"no token {token_id} of yours that still works")
    conn.execute(update(tokens_t).where(tokens_t.c.id == row.id).values(revoked_at=now))
    if row.origin == Origin.DEVICE and row.family:
        revoke_family(conn, row.family, now)


def revoke_family(conn: Connection, family: str, now: float) -> None:
    """A device login ends: its refresh tokens, its access tokens and the tokens they minted."""
    conn.execute(update(refresh_t).where(refresh_t.c.family == family, refresh_t.c.revoked_at.is_(None))
                 .values(revoked_at=now))
    conn.execute(update(tokens_t).where(tokens_t.c.family == family, tokens_t.c.revoked_at.is_(None))
                 .values(revoked_at=now))


def end_sign_ins(conn: Connection, uid: int, now: float, *, admin_tokens: bool) -> None:
    """Every web session, device login and API-minted token of the user ends now; the tokens an
    admin made on the hub host too when ``admin_tokens`` (disabling a user, not a password change)."""
    conn.execute(delete(sessions_t).where(sessions_t.c.user_id == uid))
    conn.execute(update(refresh_t).where(refresh_t.c.user_id == uid, refresh_t.c.revoked_at.is_(None))
                 .values(revoked_at=now))
    which = [tokens_t.c.user_id == uid, tokens_t.c.revoked_at.is_(None)]
    if not admin_tokens:
        which.append(or_(tokens_t.c.origin.is_(None), tokens_t.c.origin != Origin.ADMIN.value))
    conn.execute(update(tokens_t).where(*which).values(revoked_at=now))


def set_disabled(conn: Connection, name: str, disabled: bool, now: float) -> None:
    """``lz hub user disable|enable``: a disabled user's sessions and tokens end at once and sign-in
    is refused; enabling lets them sign in again (what was revoked stays revoked)."""
    uid = user_id(conn, name)
    conn.execute(update(users_t).where(users_t.c.id == uid).values(disabled_at=now if disabled else None))
    if disabled:
        end_sign_ins(conn, uid, now, admin_tokens=True)


def is_disabled(conn: Connection, uid: int) -> bool:
    return conn.execute(select(users_t.c.disabled_at).where(users_t.c.id == uid)).scalar() is not None


def revoke_token(conn: Connection, token_id: int, now: float) -> None:
    result = conn.execute(update(tokens_t).where(tokens_t.c.id == token_id, tokens_t.c.revoked_at.is_(None))
                          .values(revoked_at=now))
    if result.rowcount != 1:
        raise UserError(f"no active token {token_id}")


def touch(conn: Connection, token_id: int, now: float) -> None:
    """When a token was last used, to the nearest ``TOUCH_EVERY_S``."""
    conn.execute(update(tokens_t).where(tokens_t.c.id == token_id).values(last_used_at=now))


def authenticate(conn: Connection, token: str, now: float) -> Principal | None:
    """The principal behind a presented token, or None (unknown, revoked or expired)."""
    if not token.startswith(tokens.PREFIX) or len(token) > 200:
        return None
    return authenticate_digests(conn, [tokens.digest(token)], now).get(tokens.digest(token))


def authenticate_digests(conn: Connection, digests: Sequence[str], now: float) -> dict[str, Principal]:
    """``authenticate`` of many tokens by their digests, in one statement: those still valid."""
    if not digests:
        return {}
    rows = conn.execute(
        select(tokens_t.c.id, tokens_t.c.scope, tokens_t.c.expires_at, tokens_t.c.revoked_at, tokens_t.c.digest,
               tokens_t.c.family, tokens_t.c.last_used_at,
               users_t.c.id.label("uid"), users_t.c.name, users_t.c.admin, users_t.c.disabled_at)
        .join(users_t, users_t.c.id == tokens_t.c.user_id)
        .where(tokens_t.c.digest.in_(list(digests)))
    ).all()
    return {row.digest: Principal(user_id=row.uid, name=row.name, admin=bool(row.admin), scope=row.scope,
                                  token_id=row.id, family=row.family, last_used_at=row.last_used_at,
                                  expires_at=row.expires_at)
            for row in rows if row.revoked_at is None and (row.expires_at is None or row.expires_at > now)
            and row.disabled_at is None}
