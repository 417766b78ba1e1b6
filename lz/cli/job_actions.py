"""``lz cancel``, ``lz stop``, ``lz kill``, ``lz pause`` and ``lz resume``: one command shape for
the five, as scancel's. Several ids, or every job the filters match (-n, -t, --since; --station,
--zone with a hub), oldest first; no question asked, one line per job; an id that is unknown or
refused is one line on stderr and exit status 2, the others are acted on all the same. Locally
and against a hub alike, through ``lz.client`` (one implementation)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from lz.cli.complete import complete_job_id
from lz.cli.exit_codes import ExitCode
from lz.cli.hub_target import hub_options
from lz.cli.hub_target import target as hub_target
from lz.cli.job_filters import chosen, filter_options
from lz.core.errors import UserError
from lz.core.machine import ACTIVE, State

if TYPE_CHECKING:
    from lz.client import Client
    from lz.core.selection import Selection

CANDIDATES: dict[str, tuple[str, ...]] = {
    "cancel": ACTIVE, "stop": ACTIVE, "kill": ACTIVE,
    "pause": (State.QUEUED.value, State.RUNNING.value),
    "resume": (State.PAUSED.value,),
}
"""The states of the jobs each verb's filters pick (the states it applies to); given ids are
acted on whatever their state, and a refusal is that job's line on stderr."""


def job_targets(func: Callable[..., Any]) -> Callable[..., Any]:
    """The five's arguments: [JOB]..., the filters (without --outcome) and --hub."""
    func = filter_options(outcome=False)(hub_options(func))
    return click.argument("job_ids", nargs=-1, metavar="[JOB]...", shell_complete=complete_job_id)(func)


def act(verb: str, job_ids: tuple[str, ...]) -> None:
    """Do ``verb`` to the jobs named by id or by the filters; exit 2 if any could not be."""
    hub = hub_target()
    selection, extra = chosen(None, hub=hub is not None)
    if job_ids and (selection.filters() or extra):
        raise UserError("give job ids or filters (-n, -t, --since ...), not both")
    if not job_ids and not (selection.filters() or extra):
        raise UserError(f"name the jobs to {verb}: job ids, or -n PATTERN / -t STATE / --since (lz {verb} -h)")
    candidates = CANDIDATES[verb]
    if not job_ids:
        states = tuple(s for s in (selection.states or candidates) if s in candidates)
        if not states:
            raise UserError(f"there is nothing to {verb} in state {', '.join(selection.states)}: "
                            f"{verb} takes {_kind(candidates)} jobs")
        selection = replace(selection, states=states)
    client = _client(hub)
    targets = list(dict.fromkeys(job_ids)) or _matching(client, selection, extra)
    if not targets:
        click.echo(f"lz: no {_kind(candidates)} job matches", err=True)
        return
    failed = 0
    for wanted in targets:
        try:
            click.echo(_said(verb, client.request(wanted, verb).data, on_hub=hub is not None))
        except UserError as exc:  # unknown, ambiguous, in a state that refuses it, a hub's 404/409
            click.echo(f"lz: error: {exc}", err=True)
            failed += 1
    if failed:
        sys.exit(ExitCode.USAGE)


def _client(hub: Any) -> Client:
    from lz.client import Client

    if hub is not None:
        return Client.for_hub(hub)
    from lz.cli.common import settings

    return Client.for_settings(settings())


def _matching(client: Client, selection: Selection, extra: dict[str, str]) -> list[str]:
    """Every job the selection matches, oldest first (as they were submitted)."""
    return [job.id for job in reversed(client.select(selection, **extra))]


def _kind(states: tuple[str, ...]) -> str:
    return "active" if states == ACTIVE else " or ".join(states)


def _said(verb: str, job: dict[str, Any], on_hub: bool) -> str:
    """A job's line: its id and state, and whether the request still waits to be carried out
    (a landing zone's daemon, or the landing zone holding a hub's job)."""
    line = f"job {job['id']} {job['state']}"
    if on_hub and verb == "cancel":
        return line + (" (cancel requested)" if job["cancel_requested"] else "")
    if on_hub:
        return line + f" ({verb} requested on the hub)"
    return line + (f" ({verb} requested)" if job.get("control") == verb else "")
