"""Where the hub is and which token to use, for every client command (light: no HTTP imports).

``--hub URL`` or ``LZ_HUB``; ``--token FILE`` or ``LZ_TOKEN_FILE``, default
``$XDG_CONFIG_HOME/lz/token`` (mode 0600)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lz.errors import UserError

if TYPE_CHECKING:
    from lz.config import Settings
    from lz.hub.agent import HubAgent
    from lz.hub.client import HubClient
    from lz.store.jobs import JobStore


def default_token_file(environ: Mapping[str, str] = os.environ) -> Path:
    home = Path(environ.get("HOME") or Path.home())
    return Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "lz" / "token"


@dataclass(frozen=True)
class HubTarget:
    url: str
    token_file: Path

    def client(self) -> HubClient:
        from lz.hub.client import HubClient, read_token

        return HubClient(self.url, read_token(self.token_file))


def resolve(hub: str | None, token: str | None, environ: Mapping[str, str] = os.environ) -> HubTarget | None:
    """The hub to talk to, or None when none is configured (the command then works locally)."""
    url = hub or environ.get("LZ_HUB")
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise UserError(f"hub URL {url!r} must start with http:// or https://")
    token_file = token or environ.get("LZ_TOKEN_FILE")
    if token_file == "none":
        raise UserError("--token none is not valid for clients: give a token file")
    return HubTarget(url, Path(token_file).expanduser() if token_file else default_token_file(environ))


def hub_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--hub and --token; the command reads them back with ``target()``."""

    @click.option("--hub", "hub_url", default=None, help="Hub URL (env LZ_HUB); with it, the command talks to the hub.")
    @click.option("--token", "token_file", default=None,
                  help="Hub token file (env LZ_TOKEN_FILE; default $XDG_CONFIG_HOME/lz/token).")
    @functools.wraps(func)
    def wrapper(*args: Any, hub_url: str | None, token_file: str | None, **kwargs: Any) -> Any:
        click.get_current_context().meta["lz.hub"] = (hub_url, token_file)
        return func(*args, **kwargs)

    return wrapper


def target(required: bool = False) -> HubTarget | None:
    hub_url, token_file = click.get_current_context().meta.get("lz.hub", (None, None))
    found = resolve(hub_url, token_file)
    if found is None and required:
        raise UserError("no hub configured: give --hub URL or set LZ_HUB")
    return found


@dataclass(frozen=True)
class AgentOptions:
    """How a landing zone joins a hub (``lz run --hub URL --token FILE --max-running N``)."""

    url: str
    token_file: Path
    max_running: int
    claim_wait_s: float = 20.0
    sync_s: float = 1.0
    pilot: Any = None  # lz.hub.pilot.Pilot inside a SLURM allocation: claims only what fits, drains on SIGTERM


def agent_options(hub: str | None, token: str | None, max_running: int | None,
                  environ: Mapping[str, str] = os.environ) -> AgentOptions | None:
    found = resolve(hub, token, environ)
    if found is None:
        return None
    if max_running is not None and max_running < 1:
        raise UserError("--max-running must be at least 1")
    from lz.hub.client import read_token

    read_token(found.token_file)  # a missing or unsafe token file: one line now, before the daemon starts
    return AgentOptions(found.url, found.token_file, max_running or os.cpu_count() or 1)


def start_agent(options: AgentOptions | None, store: JobStore, settings: Settings,
                wake: Callable[[], None]) -> HubAgent | None:
    """The daemon's one call: None without a hub. The token is read here, once, and kept in
    memory only (never in argv or the environment of jobs)."""
    if options is None:
        return None
    from lz.hub.agent import HubAgent
    from lz.hub.client import HubClient, read_token

    agent = HubAgent(options, HubClient(options.url, read_token(options.token_file)), store, settings, wake)
    agent.start()
    return agent
