"""Users and tokens on the hub's database: what ``lz hub user|token`` do and what every request's
authentication reads. A token is found by its digest; the token itself is never stored or logged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from lz.core.errors import UserError
from lz.hub.server.domain import tokens
from lz.hub.server.models import Token, User

users_t: Any = User.__table__
tokens_t: Any = Token.__table__


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user, through a token of some scope."""

    user_id: int
    name: str
    admin: bool
    scope: str
    token_id: int


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
                 scope: str = "user") -> tuple[int, str]:
    """A new token for ``user``: (its id, the token). Only its digest is stored."""
    if scope not in tokens.SCOPES:
        raise UserError(f"scope {scope!r} is not one of {', '.join(tokens.SCOPES)}")
    uid = user_id(conn, user)
    token = tokens.new_token()
    result = conn.execute(insert(tokens_t).values(
        user_id=uid, digest=tokens.digest(token), scope=scope, created_at=now,
        expires_at=now + expires_s if expires_s else None))
    return new_id(result), token


def list_tokens(conn: Connection, user: str | None = None) -> list[dict[str, Any]]:
    query = select(tokens_t, users_t.c.name.label("user")).join(users_t, users_t.c.id == tokens_t.c.user_id)
    if user:
        query = query.where(users_t.c.name == user)
    rows = conn.execute(query.order_by(tokens_t.c.id)).all()
    return [{"id": r.id, "user": r.user, "scope": r.scope, "created_at": r.created_at, "expires_at": r.expires_at,
             "revoked_at": r.revoked_at, "last_used_at": r.last_used_at} for r in rows]


def revoke_token(conn: Connection, token_id: int, now: float) -> None:
    result = conn.execute(update(tokens_t).where(tokens_t.c.id == token_id, tokens_t.c.revoked_at.is_(None))
                          .values(revoked_at=now))
    if result.rowcount != 1:
        raise UserError(f"no active token {token_id}")


def authenticate(conn: Connection, token: str, now: float) -> Principal | None:
    """The principal behind a presented token, or None (unknown, revoked or expired)."""
    if not token.startswith(tokens.PREFIX) or len(token) > 200:
        return None
    row = conn.execute(
        select(tokens_t.c.id, tokens_t.c.scope, tokens_t.c.expires_at, tokens_t.c.revoked_at,
               users_t.c.id.label("uid"), users_t.c.name, users_t.c.admin)
        .join(users_t, users_t.c.id == tokens_t.c.user_id)
        .where(tokens_t.c.digest == tokens.digest(token))
    ).first()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return Principal(user_id=row.uid, name=row.name, admin=bool(row.admin), scope=row.scope, token_id=row.id)
