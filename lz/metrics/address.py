"""``HOST:PORT`` as ``--metrics`` and ``--listen`` take it (pure)."""

from __future__ import annotations

from lz.core.errors import ConfigError


def parse_address(text: str, what: str = "--metrics") -> tuple[str, int]:
    """``127.0.0.1:9750``, ``[::1]:9750``, ``:9750`` (all interfaces) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{what} {text!r} is not HOST:PORT (e.g. 127.0.0.1:9750)")
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    return host, int(port)
