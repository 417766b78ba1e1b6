"""The job filters ``lz status`` and ``lz cancel|stop|kill|pause|resume`` share, with squeue's letters and meanings
(``-t/--state``, ``-n/--name``, ``--outcome``, ``--since``; ``--station``, ``--zone`` with a hub):
one set of options, turned into a ``Selection`` for the landing zone's store or into the hub's
``GET /api/v1/jobs`` parameters (``lz.client.remote.hub_params``), so the two mean the same."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import click

from lz.core.errors import UserError
from lz.core.selection import Selection, check_patterns, parse_outcomes, parse_since, parse_states

STATE_HELP = ("Only jobs in these states (comma-separated or repeated): lz's states, or squeue's PD "
              "(received, building, queued), R (running), S (paused), CG (cancelling, collecting); "
              "active, all.")


def filter_options(outcome: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """-t/--state, -n/--name, --outcome (unless ``outcome`` is false: ``lz cancel`` and its kin have
    no use for it), --since, --station, --zone; read back with ``chosen``."""
    return functools.partial(_decorate, outcome=outcome)


def _decorate(func: Callable[..., Any], outcome: bool) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, states: tuple[str, ...], names: tuple[str, ...], since: str | None,
                station: str | None, zone: str | None, outcomes: tuple[str, ...] = (), **kwargs: Any) -> Any:
        click.get_current_context().meta["lz.filters"] = (states, names, outcomes, since, station, zone)
        return func(*args, **kwargs)

    options = [
        click.option("-t", "--state", "states", multiple=True, metavar="STATES", help=STATE_HELP),
        click.option("-n", "--name", "names", multiple=True, metavar="PATTERN",
                     help="Only jobs whose name matches (* any characters, ? one; case-insensitive; "
                          "repeat for any of several)."),
        click.option("--outcome", "outcomes", multiple=True, metavar="OUTCOMES",
                     help="Only ended jobs with these outcomes (comma-separated or repeated): succeeded, "
                          "failed, cancelled, timed_out, lost, or squeue's CD, F, CA, TO, NF.") if outcome else None,
        click.option("--since", default=None, metavar="WHEN",
                     help="Only jobs submitted since: a duration back from now (90s, 15m, 2h, 3d, 1w, 1h30m), "
                          "a time today (09:30) or an ISO date or time (2026-12-01T09:30; local unless it has "
                          "an offset)."),
        click.option("--station", default=None, metavar="NAME", help="With a hub: only this Station's jobs."),
        click.option("--zone", default=None, metavar="NAME",
                     help="With a hub: only jobs that ran (or run) on this landing zone."),
    ]
    for option in reversed(options):  # click lists options in the order they were applied, last first
        if option is not None:
            wrapper = option(wrapper)
    return wrapper


def chosen(limit: int | None = None, hub: bool = False) -> tuple[Selection, dict[str, Any]]:
    """The selection the flags ask for, and the hub-only filters (station, zone) as the hub's
    query parameters; without a hub those two are a usage error."""
    states, names, outcomes, since, station, zone = click.get_current_context().meta["lz.filters"]
    selection = Selection(parse_states(states), parse_outcomes(outcomes), check_patterns(names),
                          parse_since(since, time.time()) if since is not None else None, limit)
    extra = {k: v for k, v in {"station": station, "zone": zone}.items() if v is not None}
    if extra and not hub:
        raise UserError(f"--{next(iter(extra))} is for a hub's jobs (give --hub URL or set LZ_HUB)")
    return selection, extra
