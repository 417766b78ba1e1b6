"""The hub as its own authorization server (RFC 8628 device flow), on its database.

A device request holds the sha256 of its device code and the short user code a person types on
``/activate``; approval ties it to a user; the polling client then gets a short-lived access
token (an ordinary hub token with an expiry) and a rotating refresh token (sha256 stored).
Passwords are argon2id (memory-hard). Errors are the OAuth error codes of RFC 6749/8628."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from lz.core.errors import UserError
from lz.hub.server.domain import accounts, tokens
from lz.hub.server.domain.tokens import Origin
from lz.hub.server.models import DeviceRequest, RefreshToken, User, WebSession

devices_t: Any = DeviceRequest.__table__
refresh_t: Any = RefreshToken.__table__
sessions_t: Any = WebSession.__table__
users_t: Any = User.__table__

REFRESH_PREFIX = "lzr_"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels, no look-alikes


class OAuthError(Exception):
    """An RFC 6749 error answer: ``error`` code, HTTP status 400 (401 for a bad client)."""

    def __init__(self, error: str, description: str = "", status: int = 400):
        super().__init__(description or error)
        self.error = error
        self.description = description
        self.status = status


# -- passwords -----------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def check_password(conn: Connection, name: str, password: str) -> int | None:
    """The user's id when the password is theirs and they are not disabled, else None (same work
    either way)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    row = conn.execute(select(users_t.c.id, users_t.c.password_hash, users_t.c.disabled_at)
                       .where(users_t.c.name == name)).first()
    hasher = PasswordHasher()
    stored = row.password_hash if row is not None and row.password_hash else _DUMMY
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return int(row.id) if row is not None and row.password_hash and row.disabled_at is None else None


_DUMMY = "$argon2id$v=19$m=65536,t=3,p=4$wEadS/VZcUqxILPRLYZWHg$DNAulaM7q2FCwwtYvHettLdtBabiHC6ntRXFuyLLr0c"


def set_password(conn: Connection, name: str, password: str, now: float | None = None) -> None:
    """A new password ends every sign-in made with the old one (web sessions, device logins and the
    tokens they minted): whoever knew it is out. Tokens an admin made on the hub host stay."""
    if len(password) < 8:
        raise UserError("a password needs at least 8 characters")
    uid = accounts.user_id(conn, name)
    conn.execute(update(users_t).where(users_t.c.id == uid).values(password_hash=hash_password(password)))
    accounts.end_sign_ins(conn, uid, time.time() if now is None else now, admin_tokens=False)


# -- the device flow -----------------------------------------------------------------------------
def new_user_code() -> str:
    code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


def normalize_user_code(text: str) -> str:
    """What a person typed: case, spaces and dashes do not matter."""
    raw = "".join(c for c in text.upper() if c.isalnum())
    return f"{raw[:4]}-{raw[4:]}" if len(raw) == 8 else raw


PENDING_PER_ADDRESS = 20  # device requests one address may have waiting at once
PENDING_IN_ALL = 10_000  # and everybody together: the table stays small whoever asks
KEEP_ENDED_S = 3600.0  # an expired or used request is kept this long (its code is not reused), then purged


def start(conn: Connection, client: str, address: str, now: float, lifetime_s: float,
          interval_s: int) -> tuple[str, str]:
    """A new device request: (device_code, user_code). Anybody may ask, without an account, so
    the rows are bounded: expired ones are purged here, and an address (or everybody) with too many
    waiting gets ``slow_down`` (429) instead of a new row."""
    conn.execute(delete(devices_t).where(devices_t.c.expires_at < now - KEEP_ENDED_S))
    waiting = (devices_t.c.status == "pending", devices_t.c.expires_at >= now)
    mine = conn.execute(select(func.count()).select_from(devices_t).where(
        *waiting, devices_t.c.address == address[:64])).scalar_one()
    if mine >= PENDING_PER_ADDRESS or conn.execute(
            select(func.count()).select_from(devices_t).where(*waiting)).scalar_one() >= PENDING_IN_ALL:
        raise OAuthError("slow_down", "too many device requests are waiting: finish or let some expire first",
                         status=429)
    device_code = secrets.token_urlsafe(32)
    for _ in range(10):
        user_code = new_user_code()
        if conn.execute(select(devices_t.c.id).where(devices_t.c.user_code == user_code)).first() is None:
            break
    conn.execute(insert(devices_t).values(
        device_digest=tokens.digest(device_code), user_code=user_code, client=client[:128] or "unknown",
        address=address[:64], created_at=now, expires_at=now + lifetime_s, interval_s=interval_s,
        status="pending"))
    return device_code, user_code


@dataclass(frozen=True)
class PendingRequest:
    user_code: str
    client: str
    address: str
    expires_at: float


def pending(conn: Connection, user_code: str, now: float) -> PendingRequest | None:
    row = conn.execute(select(devices_t).where(devices_t.c.user_code == normalize_user_code(user_code))).first()
    if row is None or row.status != "pending" or row.expires_at <= now:
        return None
    return PendingRequest(row.user_code, row.client, row.address, row.expires_at)


def decide(conn: Connection, user_code: str, user_id: int, approve: bool, now: float) -> PendingRequest:
    """Approve or deny a pending request for ``user_id``; one line when there is none."""
    found = pending(conn, user_code, now)
    if accounts.is_disabled(conn, user_id):
        raise UserError("this account is disabled")
    if found is None:
        raise UserError(f"no pending login with code {user_code!r} (expired, used or mistyped)")
    conn.execute(update(devices_t).where(devices_t.c.user_code == found.user_code, devices_t.c.status == "pending")
                 .values(status="approved" if approve else "denied", user_id=user_id))
    return found


def poll(conn: Connection, device_code: str, now: float, access_s: float, refresh_s: float) -> dict[str, Any]:
    """The token endpoint's answer to a device-code grant, or an OAuthError."""
    row = conn.execute(select(devices_t).where(devices_t.c.device_digest == tokens.digest(device_code))).first()
    if row is None or row.status == "used":
        raise OAuthError("invalid_grant", "unknown or already used device code")
    if row.expires_at <= now:
        raise OAuthError("expired_token", "the code expired: start the login again")
    if row.status == "denied":
        raise OAuthError("access_denied", "the login was denied")
    if row.status == "pending":
        too_fast = row.last_poll_at is not None and now - row.last_poll_at < row.interval_s - 0.5
        conn.execute(update(devices_t).where(devices_t.c.id == row.id).values(last_poll_at=now))
        if too_fast:
            raise OAuthError("slow_down", f"poll at most every {row.interval_s} s")
        raise OAuthError("authorization_pending", "waiting for the code to be entered")
    conn.execute(update(devices_t).where(devices_t.c.id == row.id).values(status="used"))
    if accounts.is_disabled(conn, int(row.user_id)):
        raise OAuthError("access_denied", "this account is disabled")
    return issue(conn, int(row.user_id), now, access_s, refresh_s, secrets.token_hex(16))


def issue(conn: Connection, user_id: int, now: float, access_s: float, refresh_s: float,
          family: str) -> dict[str, Any]:
    """A token response: a hub access token that expires and a new refresh token of ``family``."""
    name = conn.execute(select(users_t.c.name).where(users_t.c.id == user_id)).scalar_one()
    _, access = accounts.create_token(conn, name, now, access_s, "user", Origin.DEVICE, family)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    conn.execute(insert(refresh_t).values(user_id=user_id, digest=tokens.digest(refresh), family=family,
                                          created_at=now, expires_at=now + refresh_s))
    return {"access_token": access, "token_type": "Bearer", "expires_in": int(access_s),
            "refresh_token": refresh}


def refresh(conn: Connection, presented: str, now: float, access_s: float, refresh_s: float,
            grace_s: float) -> dict[str, Any]:
    """Rotate (RFC 9700 §4.14.2): the presented refresh token is used up and a new pair issued.

    A token used again within ``grace_s`` (a lost answer retried, a process sharing the file
    without its lock) gets a sibling successor of the same family, but only one line of the family
    may go on: the first use of any successor revokes its unused siblings, and presenting a
    revoked token (such a sibling, or any token after the family ended) revokes the whole family,
    as does a use of a spent token after the grace. Two holders of one family cannot both go on
    unnoticed."""
    row = conn.execute(select(refresh_t).where(refresh_t.c.digest == tokens.digest(presented))).first()
    if row is not None and (row.revoked_at is not None
                            or (row.used_at is not None and now - row.used_at > grace_s)):
        accounts.revoke_family(conn, row.family, now)
        raise OAuthError("invalid_grant", "refresh token reused or revoked: log in again")
    if row is None or row.expires_at <= now:
        raise OAuthError("invalid_grant", "refresh token unknown, revoked or expired: log in again")
    if accounts.is_disabled(conn, int(row.user_id)):
        raise OAuthError("invalid_grant", "this account is disabled")
    if row.used_at is None:  # the line goes on from here: any other unused token of the family is spent
        conn.execute(update(refresh_t).where(refresh_t.c.family == row.family, refresh_t.c.id != row.id,
                                             refresh_t.c.used_at.is_(None), refresh_t.c.revoked_at.is_(None))
                     .values(revoked_at=now))
        conn.execute(update(refresh_t).where(refresh_t.c.id == row.id).values(used_at=now))
    return issue(conn, int(row.user_id), now, access_s, refresh_s, row.family)


def revoke_refresh_family(conn: Connection, presented: str, now: float) -> None:
    row = conn.execute(select(refresh_t.c.family).where(refresh_t.c.digest == tokens.digest(presented))).first()
    if row is not None:
        accounts.revoke_family(conn, row.family, now)


# -- web sessions (the /activate page) ----------------------------------------------------------
def new_session(conn: Connection, user_id: int, now: float, lifetime_s: float = 8 * 3600) -> tuple[str, str]:
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    conn.execute(insert(sessions_t).values(digest=tokens.digest(cookie), user_id=user_id, csrf=csrf,
                                           expires_at=now + lifetime_s))
    return cookie, csrf


@dataclass(frozen=True)
class Session:
    user_id: int
    name: str
    csrf: str
    admin: bool = False


def session(conn: Connection, cookie: str | None, now: float) -> Session | None:
    if not cookie:
        return None
    row = conn.execute(select(sessions_t.c.user_id, sessions_t.c.csrf, sessions_t.c.expires_at, users_t.c.name,
                              users_t.c.admin, users_t.c.disabled_at)
                       .join(users_t, users_t.c.id == sessions_t.c.user_id)
                       .where(sessions_t.c.digest == tokens.digest(cookie))).first()
    if row is None or row.expires_at <= now or row.disabled_at is not None:
        return None
    return Session(int(row.user_id), row.name, row.csrf, bool(row.admin))


def end_session(conn: Connection, cookie: str | None) -> None:
    """Sign out: the session row goes, so the cookie is worthless even if it was copied."""
    if cookie:
        conn.execute(delete(sessions_t).where(sessions_t.c.digest == tokens.digest(cookie)))


# -- users of an Auth0 tenant -------------------------------------------------------------------
def user_for_subject(conn: Connection, subject: str, now: float) -> accounts.Principal | None:
    """The hub user of a tenant's ``sub``, created on first sight (name derived from it); None for a
    disabled user."""
    row = conn.execute(select(users_t.c.id, users_t.c.name, users_t.c.admin, users_t.c.disabled_at)
                       .where(users_t.c.subject == subject)).first()
    if row is None:
        base = "".join(c if c.isalnum() or c in "._-" else "-" for c in subject)[:56].strip("-.") or "user"
        name = base
        while conn.execute(select(users_t.c.id).where(users_t.c.name == name)).first():
            name = f"{base}-{secrets.token_hex(3)}"
        uid = accounts.new_id(conn.execute(insert(users_t).values(name=name, admin=False, created_at=now,
                                                                  subject=subject)))
        return accounts.Principal(user_id=uid, name=name, admin=False, scope="user", token_id=0)
    if row.disabled_at is not None:
        return None
    return accounts.Principal(user_id=int(row.id), name=row.name, admin=bool(row.admin), scope="user", token_id=0)
