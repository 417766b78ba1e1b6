"""The client side of login, one implementation for the hub's embedded authorization server and
an Auth0 tenant: both speak RFC 8628 at ``/oauth/device/code`` and ``/oauth/token``, so the
same auth0-python ``GetToken`` subclass drives both (auth0-python 6.8 has no device-code grant:
``DeviceGrant`` adds it; refresh is auth0-python's own ``GetToken.refresh_token``).

The token file is JSON (access token, refresh token, expiry, hub, issuer); a plain one-line
file is a hub-issued static token and keeps working. Many processes may share one file (a job
array of pilots): a refresh takes an fcntl lock on a sibling ``.lock`` file, re-reads the file
(another process may have refreshed already) and replaces it atomically."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error

from lz import __version__
from lz.core.errors import UserError
from lz.host.fs import write_atomically
from lz.host.secret_file import read_secret
from lz.hub.protocol.transport import transport_problem
from lz.hub.protocol.versions import below

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class LoginAgain(UserError):
    """The refresh token is revoked or expired: one line, log in again."""


class DeviceGrant(GetToken):
    """RFC 8628 on top of auth0-python's token client (the gap in auth0-python 6.8)."""

    def device_code(self, audience: str = "", scope: str = "offline_access", client_name: str = "") -> Any:
        data = {"client_id": self.client_id, "scope": scope, "audience": audience, "client_name": client_name}
        return self.post(f"{self.protocol}://{self.domain}/oauth/device/code",
                         data={k: v for k, v in data.items() if v})

    def device_token(self, device_code: str) -> Any:
        return self.authenticated_post(f"{self.protocol}://{self.domain}/oauth/token", data={
            "client_id": self.client_id, "device_code": device_code, "grant_type": DEVICE_GRANT})


# -- what the hub advertises ---------------------------------------------------------------------
def fetch_meta(hub_url: str) -> dict[str, Any]:
    import requests

    try:
        response = requests.get(hub_url.rstrip("/") + "/api/v1/meta", timeout=15)
        response.raise_for_status()
        meta: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise UserError(f"hub {hub_url} unreachable ({transport_problem(exc)})") from None
    return meta


def check_updates(meta: dict[str, Any], out: IO[str], version: str = __version__) -> None:
    """The original's "Pulling updates…": compare, say so, never modify ourselves; refuse to go
    on below the hub's minimum."""
    _say(out, "Pulling updates…")
    latest, minimum = meta.get("latest_version") or version, meta.get("min_version") or version
    how = meta.get("upgrade") or "pip install --upgrade lz"
    if below(version, minimum):
        raise UserError(f"this landing zone is lz {version}, the hub needs at least {minimum}: {how}")
    if below(version, latest):
        _say(out, f"lz {latest} is available (this is {version}); to upgrade: {how}")
    else:
        _say(out, "Already up to date!")


def _say(out: IO[str], line: str) -> None:
    out.write(line + "\n")
    out.flush()


# -- the device flow -----------------------------------------------------------------------------
def grant_for(meta: dict[str, Any]) -> tuple[DeviceGrant, str]:
    auth = meta.get("auth") or {}
    grant = DeviceGrant(auth["domain"], auth.get("client_id") or "lz", protocol=auth.get("scheme") or "https",
                        timeout=15.0)
    return grant, auth.get("audience") or ""


def device_flow(meta: dict[str, Any], hub_url: str, out: IO[str], client_name: str = "",
                sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Print the code, poll until approved; the token set (JSON-able) or a one-line UserError."""
    grant, audience = grant_for(meta)
    try:
        # who asks is shown on the hub's /activate; a tenant gets only the standard parameters
        embedded = (meta.get("auth") or {}).get("kind") == "embedded"
        start = grant.device_code(audience=audience, client_name=client_name if embedded else "")
    except Auth0Error as exc:
        raise UserError(f"login could not start: {exc.message or exc.error_code}") from None
    _say(out, "Please visit the following url in your browser and enter the code below")
    _say(out, f"URL: {start['verification_uri']}")
    _say(out, f"Code: {start['user_code']}")
    interval = float(start.get("interval") or 5)
    deadline = clock() + float(start.get("expires_in") or 900)
    while True:
        sleep(interval)
        try:
            answer = grant.device_token(start["device_code"])
        except Auth0Error as exc:
            if exc.status_code == 429:  # the hub's rate limit: wait what it says (bounded), then poll on
                sleep(waited(exc))
            elif exc.error_code == "authorization_pending":
                pass
            elif exc.error_code == "slow_down":
                interval += 5
            elif exc.error_code == "expired_token" or clock() > deadline:
                raise UserError("the code expired before it was entered: log in again") from None
            elif exc.error_code == "access_denied":
                raise UserError("the login was denied") from None
            else:
                raise UserError(f"login failed: {exc.error_code}: {exc.message}") from None
            continue
        return token_set(answer, meta, hub_url, clock())


MAX_WAIT_S = 60.0  # the longest Retry-After a client waits before asking again


def waited(exc: Auth0Error, default_s: float = 5.0) -> float:
    """What a 429's ``Retry-After`` asks to wait, at most ``MAX_WAIT_S`` (``default_s`` without one)."""
    headers = exc.headers or {}
    try:
        seconds = float(headers.get("Retry-After") or headers.get("retry-after") or default_s)
    except (TypeError, ValueError):
        seconds = default_s
    return min(MAX_WAIT_S, max(0.0, seconds))


def token_set(answer: dict[str, Any], meta: dict[str, Any], hub_url: str, now: float) -> dict[str, Any]:
    auth = meta.get("auth") or {}
    return {"hub": hub_url, "kind": auth.get("kind", "embedded"), "issuer": f"{auth.get('scheme')}://{auth.get('domain')}/",
            "domain": auth.get("domain"), "scheme": auth.get("scheme"), "client_id": auth.get("client_id"),
            "audience": auth.get("audience") or "", "access_token": answer["access_token"],
            "refresh_token": answer.get("refresh_token"),
            "expires_at": now + float(answer.get("expires_in") or 3600)}


# -- the token file ------------------------------------------------------------------------------
def parse(text: str) -> dict[str, Any]:
    """A token file's content: JSON from ``lz login``, or a plain static hub token."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise UserError("token file is not valid JSON: log in again") from None
        if not isinstance(data, dict) or not data.get("access_token"):
            raise UserError("token file holds no access token: log in again")
        return data
    if not text:
        raise UserError("token file is empty")
    return {"access_token": text.splitlines()[0].strip()}


def read_file(path: Path) -> dict[str, Any]:
    return parse(read_secret(path, "hub token", "log in with `lz login`"))


def write_file(path: Path, data: dict[str, Any]) -> None:
    """0600 from the start, replaced atomically (readers see the old or the new file)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(path, json.dumps(data))


class _Locked:
    """An exclusive fcntl lock on ``<file>.lock`` beside the token file (works across processes
    and, on NFS with lockd, across nodes)."""

    def __init__(self, path: Path):
        self.lock_path = path.with_name(path.name + ".lock")

    def __enter__(self) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: Any) -> None:
        fcntl.lockf(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def save(path: Path | None, data: dict[str, Any]) -> None:
    if path is not None:
        with _Locked(path):
            write_file(path, data)


@dataclass
class TokenSource:
    """The current access token, refreshed before it expires. ``path`` None: memory only."""

    path: Path | None
    data: dict[str, Any]
    clock: Callable[[], float] = time.time
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> str:
        with self.lock:
            if self._due(self.data):
                self._refresh()
            token: str = self.data["access_token"]
            return token

    def _due(self, data: dict[str, Any]) -> bool:
        expires = data.get("expires_at")
        if expires is None or not data.get("refresh_token"):
            return False
        lifetime = float(data.get("lifetime_s") or 3600)
        return self.clock() > float(expires) - min(60.0, lifetime / 4)

    def force_refresh(self) -> bool:
        with self.lock:
            if not self.data.get("refresh_token"):
                return False
            self._refresh(force=True)
            return True

    def _refresh(self, force: bool = False) -> None:
        if self.path is None:
            self.data = refreshed(self.data, self.clock())
            return
        with _Locked(self.path):
            current = read_file(self.path)  # another process may have refreshed while we waited
            unchanged = current.get("refresh_token") == self.data.get("refresh_token")
            if (force and unchanged) or self._due(current):
                current = refreshed(current, self.clock())
                write_file(self.path, current)
            self.data = current


def refreshed(data: dict[str, Any], now: float) -> dict[str, Any]:
    """A new access token (and, where the server rotates them, refresh token) via auth0-python."""
    grant = DeviceGrant(data["domain"], data.get("client_id") or "lz", protocol=data.get("scheme") or "https",
                        timeout=15.0)
    try:
        answer = grant.refresh_token(data["refresh_token"])
    except Auth0Error as exc:
        if exc.status_code in (400, 401, 403):
            raise LoginAgain(f"hub login expired or revoked: log in again (lz login --hub {data.get('hub')})") \
                from None
        raise UserError(f"token refresh failed ({exc.status_code}): try again later") from None
    except Exception as exc:  # network errors: the caller keeps the old token and tries again
        raise UserError(f"token refresh failed ({type(exc).__name__}): try again later") from None
    out = dict(data, access_token=answer["access_token"],
               expires_at=now + float(answer.get("expires_in") or 3600),
               lifetime_s=float(answer.get("expires_in") or 3600))
    if answer.get("refresh_token"):
        out["refresh_token"] = answer["refresh_token"]
    return out


def usable(path: Path) -> dict[str, Any] | None:
    """The file's token set when it can still give an access token without a login, else None."""
    try:
        data = read_file(path)
    except UserError:
        if path.exists():
            raise
        return None
    if data.get("refresh_token") or data.get("expires_at") is None or float(data["expires_at"]) > time.time():
        return data
    return None


def login(hub_url: str, path: Path | None, out: IO[str] = sys.stdout, client_name: str = "",
          meta: dict[str, Any] | None = None, check: bool = True) -> TokenSource:
    """``lz login``: updates check, device flow, token saved (0600, atomic, locked)."""
    meta = meta or fetch_meta(hub_url)
    if check:
        check_updates(meta, out)
    data = device_flow(meta, hub_url, out, client_name)
    data["lifetime_s"] = data["expires_at"] - time.time()
    save(path, data)
    return TokenSource(path, data)
