"""What the engine tells the world: every fired transition, every controller call, every finished
step and tick, delivered to listeners (metrics, logs, an upstream hub) so none of them needs code
inside the engine (pure). A listener implements the ``on_*`` methods it cares about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from lz.core.job import Job
from lz.core.records import Transition

ControllerKind = Literal["call", "down", "up"]


@dataclass(frozen=True)
class ControllerEvent:
    """``call``: one command ran (program, seconds, ok); ``down``/``up``: health changed."""

    kind: ControllerKind
    at: float
    program: str = ""
    seconds: float = 0.0
    ok: bool = True
    error: str | None = None


@dataclass(frozen=True)
class StepEvent:
    """A worker finished one step of a job (``build``, ``submit``, ``collect``): how long it took,
    whether it did what it set out to, and for a collection the bytes and files it stored."""

    step: str
    job_id: str
    seconds: float
    ok: bool = True
    bytes: int | None = None
    files: int | None = None


@dataclass(frozen=True)
class TickEvent:
    """One tick finished: when, how long it took, and how many active jobs it looked at."""

    at: float
    seconds: float
    active: int


class Listener(Protocol):
    def on_transition(self, job: Job, transition: Transition) -> None: ...

    def on_controller(self, event: ControllerEvent) -> None: ...


class StepListener(Protocol):
    """Optional: listeners that also want steps and ticks."""

    def on_step(self, event: StepEvent) -> None: ...

    def on_tick(self, event: TickEvent) -> None: ...


class Listeners:
    """Fans events out; a listener that raises is logged by the caller's logger and skipped, so a
    broken metrics exporter can never stop a job."""

    def __init__(self, *listeners: object):
        self._listeners = list(listeners)

    def add(self, listener: object) -> None:
        self._listeners.append(listener)

    def transition(self, job: Job, transition: Transition) -> None:
        self._send("on_transition", job, transition)

    def controller(self, event: ControllerEvent) -> None:
        self._send("on_controller", event)

    def step(self, event: StepEvent) -> None:
        self._send("on_step", event)

    def tick(self, event: TickEvent) -> None:
        self._send("on_tick", event)

    def _send(self, method: str, *args: object) -> None:
        for listener in self._listeners:
            handler = getattr(listener, method, None)
            if handler is None:
                continue
            try:
                handler(*args)
            except Exception:  # noqa: BLE001 - see the class docstring
                _log_failure(listener)


def _log_failure(listener: object) -> None:
    import logging

    logging.getLogger("lz.core.events").exception("listener %r failed", listener)
