"""Where a webhook may be sent (SSRF): a user's URL must not make the hub reach what only the
hub can reach, such as its loopback, the cluster's private network or a cloud's metadata service.

An address is refused unless it is global (``ipaddress``'s ``is_global``: loopback, link-local
169.254/16 and fe80::/10, private, shared 100.64/10, reserved, unspecified and multicast are not),
an IPv4-mapped IPv6 address judged as its IPv4 one, unless the hub allows private targets
(``webhook_allow_private``: a hub whose receivers live on its own network, and the tests). The URL
is checked when subscribed (one line, 422) and again at each delivery, where the request then goes
to the very address that was checked (``pinned``), so a name that resolves elsewhere the second
time (DNS rebinding) changes nothing. A name that does not resolve at subscribe time is accepted:
delivery checks it when it does.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from lz.hub.server.errors import Invalid

Resolver = Callable[[str, int], Sequence[str]]
"""(host, port) -> the addresses it resolves to (injected: tests give fixed answers)."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refused(address: str) -> str | None:
    """Why the hub may not send to this address, or None when it is a global one."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (the metadata service's among them)"
    if ip.is_multicast or ip.is_unspecified:
        return "not a host's address"
    if not ip.is_global:
        return "a private or reserved address"
    return None


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("a webhook is an http:// or https:// URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Invalid("the webhook's port is not a number from 1 to 65535") from None
    return parts.hostname, port


def pinned(url: str, allow_private: bool, resolve: Resolver = system_resolver) -> str:
    """The address a delivery connects to: the first the host resolves to, every one of them
    allowed (a name with one bad address is refused whole: it could be handed out next); an
    OSError when the host does not resolve, Invalid when it may not be sent to."""
    host, port = host_port(url)
    found = list(resolve(host, port))
    if not found:
        raise OSError(f"{host} resolves to no address")
    if not allow_private:
        for address in found:
            why = refused(address)
            if why:
                raise Invalid(f"webhook host {host} resolves to {address}, {why}: not allowed on this hub")
    return found[0]


def check(url: str, allow_private: bool, resolve: Resolver = system_resolver) -> None:
    """At subscribe time: Invalid with one line when the URL names a refused address."""
    try:
        pinned(url, allow_private, resolve)
    except OSError:
        pass  # does not resolve now: each delivery checks again
