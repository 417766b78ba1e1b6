"""Sign-in on the web page through the hub's Auth0 tenant: its universal login with the
authorization-code grant and PKCE (S256). The hub keeps no client secret (the tenant's
Application is the public one the CLI's device flow uses), so the code is bound to this browser by
the verifier, and the answer to this request by ``state``; both wait in the short-lived ``lz_pkce``
cookie. The access token the tenant returns is checked like any other (``hub.tenant``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lz.hub.server.config import Auth0Config
from lz.hub.server.deps import hub_of
from lz.hub.server.domain import login
from lz.hub.server.hub import Hub
from lz.hub.server.web import session
from lz.hub.server.web.render import HEADERS, page

router = APIRouter(include_in_schema=False)
log = logging.getLogger("lz.hub.server.web.auth0_login")
COOKIE = "lz_pkce"
COOKIE_S = 600  # time to get through the tenant's login page
MAX_PARAM = 2048


@dataclass(frozen=True)
class Pending:
    """A sign-in on its way through the tenant: what the callback must match and where it goes on to."""

    state: str
    verifier: str
    next: str

    def encode(self) -> str:
        raw = json.dumps({"s": self.state, "v": self.verifier, "n": self.next}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> Pending | None:
        if not value or len(value) > 4 * MAX_PARAM:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            found = cls(str(data["s"]), str(data["v"]), session.safe_next(str(data["n"])))
        except (ValueError, TypeError, KeyError):
            return None
        return found if found.state and found.verifier else None


def challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")



def _tenant(request: Request) -> tuple[Hub, Auth0Config | None]:
    hub = hub_of(request)
    return hub, hub.config.auth0


def _not_here() -> Response:
    return Response("This hub signs in with a password, not through an Auth0 tenant.\n", status_code=404,
                    media_type="text/plain", headers=HEADERS)


@router.get("/login/auth0")
def start(request: Request, next: str = "/") -> Response:
    hub, tenant = _tenant(request)
    if tenant is None:
        return _not_here()
    target = session.safe_next(next)
    if session.current(request) is not None:
        return RedirectResponse(target, status_code=303)
    pending = Pending(secrets.token_urlsafe(24), secrets.token_urlsafe(48), target)  # verifier: 64 chars
    query = urlencode({
        "response_type": "code", "client_id": tenant.client_id, "redirect_uri": f"{hub.base_url(request)}/login/callback",
        "scope": "openid profile email", "audience": tenant.audience, "state": pending.state,
        "code_challenge": challenge(pending.verifier), "code_challenge_method": "S256",
    })
    response = RedirectResponse(f"{tenant.scheme}://{tenant.domain}/authorize?{query}", status_code=303,
                                headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    # Lax, not Strict: the tenant sends the browser back with a cross-site top-level GET
    response.set_cookie(COOKIE, pending.encode(), max_age=COOKIE_S, path="/login", httponly=True, samesite="lax",
                        secure=session.is_tls(hub, request))
    return response


@router.get("/login/callback")
async def callback(request: Request, code: str = "", state: str = "", error: str = "",
                   error_description: str = "") -> Response:
    hub, tenant = _tenant(request)
    if tenant is None:
        return _not_here()
    pending = Pending.decode(request.cookies.get(COOKIE))
    if pending is None or not state or len(state) > MAX_PARAM \
            or not hmac.compare_digest(state.encode(), pending.state.encode()):
        return _refused(request, tenant, 400, "This sign-in was not started here or took too long: try again.")
    if error:
        said = " ".join((error_description or error).split())[:200]
        return _refused(request, tenant, 401, f"The Auth0 tenant refused the sign-in: {said}")
    if not code or len(code) > MAX_PARAM:
        return _refused(request, tenant, 400, "The Auth0 tenant sent no code: try again.")
    redirect_uri = f"{hub.base_url(request)}/login/callback"
    try:
        answer = await run_in_threadpool(_exchange, tenant, pending.verifier, code, redirect_uri)
    except _Unreachable as exc:
        return _refused(request, tenant, 502, f"The Auth0 tenant did not answer ({exc}): try again later.")
    token = answer.get("access_token") if isinstance(answer, dict) else None
    subject = await run_in_threadpool(hub.tenant.subject, token) if isinstance(token, str) else None
    if subject is None:
        return _refused(request, tenant, 401, "The Auth0 tenant did not confirm this sign-in: try again.")
    who = await run_in_threadpool(hub.write, login.user_for_subject, subject, hub.now())
    if who is None:
        return _refused(request, tenant, 403, "This account is disabled on this hub: ask its administrator.")
    response = session.start(hub, request, who.user_id, pending.next)
    response.delete_cookie(COOKIE, path="/login")
    return response


class _Unreachable(Exception):
    pass


def _exchange(tenant: Auth0Config, verifier: str, code: str, redirect_uri: str) -> Any:
    """The tenant's token set for ``code``, or None when it refuses it (a used or injected code)."""
    import requests
    from auth0.authentication import GetToken
    from auth0.authentication.exceptions import Auth0Error

    grant = GetToken(tenant.domain, tenant.client_id, protocol=tenant.scheme, telemetry=False, timeout=10.0)
    try:
        return grant.authorization_code_pkce(verifier, code, redirect_uri)
    except Auth0Error as exc:
        if exc.status_code == 429 or exc.status_code >= 500:
            raise _Unreachable(f"HTTP {exc.status_code}") from None
        log.info("tenant refused the code: %s %s", exc.status_code, exc.error_code)
        return None
    except requests.RequestException as exc:
        log.warning("tenant unreachable: %s", type(exc).__name__)
        raise _Unreachable(type(exc).__name__) from None


def _refused(request: Request, tenant: Auth0Config, status: int, line: str) -> Response:
    response = page(request, "login.html", status, viewer=None, next="/", tenant=tenant, error=line)
    response.delete_cookie(COOKIE, path="/login")  # one try per start: the state is spent
    return response
