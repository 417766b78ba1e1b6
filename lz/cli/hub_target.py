"""``--hub`` and ``--token`` for every client command (resolved by ``lz.client.target``, as the
Python API does: every hub URL passes ``check_hub_url``, https or http to loopback unless
``--allow-insecure-hub`` / ``LZ_ALLOW_INSECURE_HUB``), and, for ``lz run --hub``, the login that
comes before the daemon starts."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import click

from lz.core.errors import UserError
from lz.hub.protocol.transport import ALLOW_ENV, ALLOW_FLAG

if TYPE_CHECKING:  # imported when a command asks for its hub: every job command has --hub, few use it
    from lz.client.target import HubTarget
    from lz.hub.agent.options import AgentOptions

__all__ = ["agent_options", "hub_options", "insecure_option", "target"]


def hub_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--hub and --token; the command reads them back with ``target()``."""

    @click.option("--hub", "hub_url", default=None, help="Hub URL (env LZ_HUB); with it, the command talks to the hub.")
    @click.option("--token", "token_file", default=None,
                  help="Hub token file (env LZ_TOKEN_FILE; default $XDG_CONFIG_HOME/lz/token).")
    @insecure_option
    @functools.wraps(func)
    def wrapper(*args: Any, hub_url: str | None, token_file: str | None, allow_insecure_hub: bool | None,
                **kwargs: Any) -> Any:
        click.get_current_context().meta["lz.hub"] = (hub_url, token_file, allow_insecure_hub)
        return func(*args, **kwargs)

    return wrapper


def insecure_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--allow-insecure-hub``: unset (None) leaves it to the setting."""
    return click.option(ALLOW_FLAG, "allow_insecure_hub", is_flag=True, default=None,
                        help=f"Allow a plain http:// hub on another machine (token and jobs unencrypted; "
                             f"env {ALLOW_ENV}).")(func)


def target(required: bool = False) -> HubTarget | None:
    from lz.client.target import resolve

    hub_url, token_file, allow = click.get_current_context().meta.get("lz.hub", (None, None, None))
    found = resolve(hub_url, token_file, allow_insecure=allow)
    if found is None and required:
        raise UserError("no hub configured: give --hub URL or set LZ_HUB")
    return found


def agent_options(hub: str | None, token: str | None, max_running: int | None,
                  environ: Mapping[str, str] = os.environ, name: str | None = None,
                  stations: tuple[str, ...] = (), allow_insecure: bool | None = None) -> AgentOptions | None:
    """Before the daemon starts: the hub's versions checked and, without a usable token, the
    device flow printed on stdout (flushed: a pilot's output file shows it) and waited for."""
    from lz.client.target import resolve
    from lz.hub.agent.options import AgentOptions

    memory_only = (token or environ.get("LZ_TOKEN_FILE")) == "none"
    found = resolve(hub, None if memory_only else token, environ, allow_insecure)
    if found is None:
        return None
    if max_running is not None and max_running < 1:
        raise UserError("--max-running must be at least 1")
    import sys

    from lz.hub.agent import login_client

    data = None if memory_only else login_client.usable(found.token_file)  # an unsafe file: one line first
    meta = login_client.fetch_meta(found.url)
    if data is None:
        source = login_client.login(found.url, None if memory_only else found.token_file, sys.stdout,
                                    client_name=_client_name(name), meta=meta)
    else:
        login_client.check_updates(meta, sys.stdout)
        source = login_client.TokenSource(found.token_file, data)
        try:
            source()  # refreshed now if due: a dead refresh token means a new login, as with none
        except login_client.LoginAgain as exc:
            print(f"lz: {exc}", flush=True)
            source = login_client.login(found.url, found.token_file, sys.stdout, meta=meta,
                                        client_name=_client_name(name),
                                        check=False)
    return AgentOptions(found.url, found.token_file, max_running or os.cpu_count() or 1, tokens=source, name=name,
                        stations=stations)


def _client_name(name: str | None) -> str:
    """What the hub's /activate page shows a person about to approve this login."""
    import socket

    return f"landing zone {name or '(unnamed)'} on {socket.gethostname()}"
