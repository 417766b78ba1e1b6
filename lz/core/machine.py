"""The job lifecycle: one table of states and transitions, read top to bottom (pure).

The machine is built by the ``transitions`` library from this table, and so is the picture in
``state_diagrams/`` (``lz diagram``). Decisions about *when* to fire an event live in
``lz.core.rules``; this module only says which events a state accepts and where they lead.

Every job ends in ``cleaned`` exactly once, with an outcome. Failure and cancel paths still pass
through ``collecting`` so logs and partial results are returned. ``paused`` is a job held while
pending (SLURM hold) or suspended while running (SIGSTOP, SLURM suspend): ``resume`` takes a
suspended one back to running, ``release`` a held one back to the queue. ``retry`` ends an
attempt that its retry policy lets go again (``lz.core.retry``): the job waits queued, unsubmitted,
for its next attempt; a running job the scheduler requeued takes the same edge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from lz.core.errors import InvalidTransition


class State(enum.StrEnum):
    RECEIVED = "received"
    BUILDING = "building"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    COLLECTING = "collecting"
    CLEANED = "cleaned"


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    LOST = "lost"


STATES: list[str] = [s.value for s in State]
TERMINAL = frozenset({State.CLEANED.value})
ACTIVE = tuple(s for s in STATES if s not in TERMINAL)

# trigger, source(s), dest. ``dest=None`` is an internal transition: accepted, nothing changes.
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "reject", "source": "received", "dest": "cleaned"},
    {"trigger": "build", "source": "received", "dest": "building"},
    {"trigger": "built", "source": "building", "dest": "queued"},
    {"trigger": "build_failed", "source": "building", "dest": "collecting"},
    {"trigger": "started", "source": "queued", "dest": "running"},
    {"trigger": "retry", "source": ["queued", "running", "paused"], "dest": "queued"},
    {"trigger": "submit_failed", "source": "queued", "dest": "collecting"},
    {"trigger": "pause", "source": ["queued", "running"], "dest": "paused"},
    {"trigger": "resume", "source": "paused", "dest": "running"},
    {"trigger": "release", "source": "paused", "dest": "queued"},
    {"trigger": "ended", "source": ["queued", "running", "paused", "cancelling"], "dest": "collecting"},
    {"trigger": "cancel", "source": "received", "dest": "collecting"},
    {"trigger": "cancel", "source": ["building", "queued", "running", "paused"], "dest": "cancelling"},
    {"trigger": "cancel", "source": ["cancelling", "collecting"], "dest": None},
    {"trigger": "clean", "source": "collecting", "dest": "cleaned"},
]

MACHINE: dict[str, Any] = {
    "states": STATES,
    "transitions": TRANSITIONS,
    "initial": State.RECEIVED.value,
    "auto_transitions": False,
}
"""The machine's definition, shared by the lifecycle and the diagram."""

EVENTS: tuple[str, ...] = tuple(dict.fromkeys(t["trigger"] for t in TRANSITIONS))


@dataclass
class _Token:
    """The model the machine moves: just a state (the job row itself stays in the store)."""

    state: str


class Lifecycle:
    """Answers "what does event E do to a job in state S?" using the ``transitions`` machine."""

    def __init__(self) -> None:
        from transitions import Machine  # here: the states alone (``lz submit``'s views) need no machine

        self._machine = Machine(model=None, ignore_invalid_triggers=False, **MACHINE)
        self._known: dict[tuple[str, str], str] = {}  # the table never changes: each answer is asked once

    def next_state(self, state: str, event: str) -> str:
        """The state after ``event``; raises InvalidTransition with a message for the user."""
        known = self._known.get((state, event))
        if known is not None:
            return known
        if event not in EVENTS:
            raise InvalidTransition(f"unknown event {event!r}")
        from transitions import MachineError

        token = _Token(state)
        self._machine.add_model(token, initial=state)
        try:
            token.trigger(event)  # type: ignore[attr-defined]
        except MachineError:
            raise InvalidTransition(_refusal(state, event)) from None
        finally:
            self._machine.remove_model(token)
        self._known[(state, event)] = token.state
        return token.state


def _refusal(state: str, event: str) -> str:
    if state in TERMINAL:
        return f"the job is already {state}; {event} is not possible any more"
    return f"a job that is {state} cannot take {event!r}"

