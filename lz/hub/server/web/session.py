"""Who is looking at a page: the signed-in session behind the ``lz_session`` cookie (only its
sha256 is stored), and the CSRF token every form posts back."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from lz.hub.server.deps import hub_of
from lz.hub.server.domain import login
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import Forbidden
from lz.hub.server.forms import read_fields
from lz.hub.server.hub import Hub

COOKIE = "lz_session"
SESSION_S = 8 * 3600


class SignInRequired(Exception):
    """Raised by a page for a visitor without a session: answered with the sign-in page."""

    def __init__(self, target: str):
        super().__init__(target)
        self.target = target


@dataclass(frozen=True)
class Viewer:
    """A signed-in person: the principal the rule functions check, and the session's CSRF token."""

    who: Principal
    csrf: str

    @property
    def name(self) -> str:
        return self.who.name


def current(request: Request) -> Viewer | None:
    hub = hub_of(request)
    found = hub.read(login.session, request.cookies.get(COOKIE), hub.now())
    if found is None:
        return None
    who = Principal(user_id=found.user_id, name=found.name, admin=found.admin, scope="user", token_id=0)
    return Viewer(who, found.csrf)


def viewer(request: Request) -> Viewer:
    """FastAPI dependency of every page: the viewer, or off to sign in (and back here after)."""
    found = current(request)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return found


async def to_sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if request.headers.get("hx-request"):  # a live fragment of an expired session: reload the page
        return Response(status_code=204, headers={"HX-Refresh": "true"})
    return RedirectResponse(f"/login?next={quote(safe_next(exc.target))}", status_code=303)


def safe_next(target: str | None) -> str:
    """Only a path of this site (no ``//host``, no scheme): a sign-in never sends you elsewhere.
    No control characters either: browsers drop tabs and newlines from a URL, so ``/<TAB>/host``
    would become ``//host``."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 0x20 or c == "\x7f" for c in target)):
        return "/"
    return target


async def form(request: Request, viewer: Viewer) -> dict[str, str]:
    """A posted form (urlencoded), refused unless it carries the session's CSRF token."""
    fields = await read_fields(request)
    sent = fields.get("csrf") or request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(sent.encode(), viewer.csrf.encode()):
        raise Forbidden("stale form: reload the page")
    return fields


def check_csrf_header(request: Request, viewer: Viewer) -> None:
    """For uploads and other non-form posts: the token travels in ``X-CSRF-Token``."""
    sent = request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(sent.encode(), viewer.csrf.encode()):
        raise Forbidden("stale page: reload it")


# -- the sign-in form's CSRF token (login CSRF: nobody else's site may sign you in as them) -------
LOGIN_COOKIE = "lz_login"
LOGIN_S = 3600


def login_token(request: Request) -> tuple[str, bool]:
    """The pre-session token the sign-in form carries: the ``lz_login`` cookie's value, or a new
    one (then True: the answer must set the cookie)."""
    sent = request.cookies.get(LOGIN_COOKIE, "")
    if 20 <= len(sent) <= 64 and sent.isascii():
        return sent, False
    return secrets.token_urlsafe(24), True


def set_login_cookie(hub: Hub, request: Request, response: Response, token: str) -> None:
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/login",
                        secure=is_tls(hub, request), max_age=LOGIN_S)


def check_login_csrf(request: Request, fields: dict[str, str]) -> None:
    """Double submit: the posted ``csrf`` must equal the ``lz_login`` cookie, which another site
    can neither read nor set (and a ``SameSite=Strict`` cookie is not even sent with its post)."""
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    sent = fields.get("csrf", "")
    if len(cookie) < 20 or not hmac.compare_digest(sent.encode(), cookie.encode()):
        raise Forbidden("stale sign-in form: reload the page and sign in again")


def start(hub: Hub, request: Request, user_id: int, target: str) -> Response:
    """A new session for ``user_id`` and the way on to ``target``.

    The answer is a small page that moves on by itself rather than a redirect: after a sign-in
    that came back from another site (Auth0), a redirect chain would count as cross-site and the
    browser would withhold the new ``SameSite=Strict`` cookie on the next request."""
    from lz.hub.server.web.render import moving_on

    cookie, _csrf = hub.write(login.new_session, user_id, hub.now(), SESSION_S)
    response = moving_on(safe_next(target))
    set_cookie(hub, request, response, cookie)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def set_cookie(hub: Hub, request: Request, response: Response, cookie: str) -> None:
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/", secure=is_tls(hub, request),
                        max_age=SESSION_S)


def is_tls(hub: Hub, request: Request) -> bool:
    """``Secure`` cookies behind TLS: the configured public URL, else the request's own scheme
    (a proxy in front must pass it on, e.g. uvicorn ``--proxy-headers``)."""
    return hub.base_url(request).startswith("https://")


def end(hub: Hub, request: Request) -> Response:
    hub.write(login.end_session, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
