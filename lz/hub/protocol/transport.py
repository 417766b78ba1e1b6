"""Where a client may send its token and take jobs from: the one rule for every hub URL (issue 21).

Over plain http anyone on the path reads the bearer token and can pose as the hub, which then
sends jobs to every landing zone that trusts it. So a hub URL is ``https://``, or ``http://`` to
this machine only (loopback: 127.0.0.0/8, ::1, ``localhost``), unless the user allows it on
purpose (``--allow-insecure-hub``, setting ``allow_insecure_hub``). Certificates are verified
(the HTTP client's default); a site CA is given with ``REQUESTS_CA_BUNDLE``."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from lz.core.errors import UserError

ALLOW_FLAG = "--allow-insecure-hub"
ALLOW_SETTING = "allow_insecure_hub"
ALLOW_ENV = "LZ_ALLOW_INSECURE_HUB"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine without leaving it (a name other than ``localhost``
    could resolve anywhere, so it is not trusted)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_hub_url(url: str, allow_insecure: bool = False) -> str:
    """``url`` when a client may use it as its hub; otherwise one line that says why and how to
    allow it (a ``UserError``: exit 2)."""
    if not url.startswith(("http://", "https://")):
        raise UserError(f"hub URL {url!r} must start with https:// (or http:// to this machine)")
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        raise UserError(f"hub URL {url!r} names no host")
    if url.startswith("http://") and not allow_insecure and not is_loopback(host):
        raise UserError(
            f"hub URL {url!r} is plain http to another machine: its token and jobs would travel "
            f"unencrypted to whoever answers; use https:// (a TLS proxy in front of the hub, see "
            f"docs/hub-behind-a-proxy.md) or allow it with {ALLOW_FLAG} (setting {ALLOW_SETTING}, "
            f"env {ALLOW_ENV}=true)")
    return url


def transport_problem(exc: BaseException) -> str:
    """A failed request in a few words (never its text: it may hold a URL); for a certificate the
    client does not trust, how to trust a site CA."""
    name = type(exc).__name__
    if name == "SSLError":
        return f"{name}: its TLS certificate is not trusted here; give the site's CA with REQUESTS_CA_BUNDLE=PATH"
    return name
