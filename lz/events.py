"""What the engine tells the world: every fired transition and every controller call, delivered to
listeners (metrics, logs, an upstream hub) so none of them needs code inside the engine (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from lz.job import Job, Transition

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


class Listener(Protocol):
    def on_transition(self, job: Job, transition: Transition) -> None: ...

    def on_controller(self, event: ControllerEvent) -> None: ...


class Listeners:
    """Fans events out; a listener that raises is logged by the caller's logger and skipped, so a
    broken metrics exporter can never stop a job."""

    def __init__(self, *listeners: Listener):
        self._listeners = list(listeners)

    def add(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def transition(self, job: Job, transition: Transition) -> None:
        for listener in self._listeners:
            try:
                listener.on_transition(job, transition)
            except Exception:  # noqa: BLE001 - see the class docstring
                _log_failure(listener)

    def controller(self, event: ControllerEvent) -> None:
        for listener in self._listeners:
            try:
                listener.on_controller(event)
            except Exception:  # noqa: BLE001
                _log_failure(listener)


def _log_failure(listener: object) -> None:
    import logging

    logging.getLogger("lz.events").exception("listener %r failed", listener)
