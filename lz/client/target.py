"""Where the hub is and which token to use (light: no HTTP imports until a client is made).

``--hub URL`` or ``LZ_HUB``; ``--token FILE`` or ``LZ_TOKEN_FILE``, default
``$XDG_CONFIG_HOME/lz/token`` (mode 0600). The CLI and ``lz.client.Client`` resolve it the same way,
and every hub URL passes ``check_hub_url`` (https, or http to loopback, unless
``--allow-insecure-hub`` / ``LZ_ALLOW_INSECURE_HUB``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lz.core.errors import UserError
from lz.hub.protocol.transport import ALLOW_ENV, check_hub_url

if TYPE_CHECKING:
    from lz.hub.agent.client import HubClient


def default_token_file(environ: Mapping[str, str] = os.environ) -> Path:
    home = Path(environ.get("HOME") or Path.home())
    return Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "lz" / "token"


@dataclass(frozen=True)
class HubTarget:
    url: str
    token_file: Path
    insecure_allowed: bool = False  # a plain http hub elsewhere was allowed (pilots pass it on)

    def client(self) -> HubClient:
        from lz.hub.agent.client import HubClient
        from lz.hub.agent.login_client import TokenSource, read_file

        return HubClient(self.url, TokenSource(self.token_file, read_file(self.token_file)))


def resolve(hub: str | None, token: str | os.PathLike[str] | None, environ: Mapping[str, str] = os.environ,
            allow_insecure: bool | None = None) -> HubTarget | None:
    """The hub to talk to, or None when none is configured (the caller then works locally).
    ``allow_insecure`` None: ``LZ_ALLOW_INSECURE_HUB`` decides."""
    url = hub or environ.get("LZ_HUB")
    if not url:
        return None
    if allow_insecure is None:
        from lz.config import bool_from_env

        allow_insecure = bool_from_env(ALLOW_ENV, environ)
    check_hub_url(url, allow_insecure)
    token_file = os.fspath(token) if token is not None else environ.get("LZ_TOKEN_FILE")
    if token_file == "none":
        raise UserError("--token none is not valid for clients: give a token file")
    return HubTarget(url, Path(token_file).expanduser() if token_file else default_token_file(environ),
                     insecure_allowed=allow_insecure)
