"""Progress of long waits (``lz submit --wait``) on a terminal, with rich: a line per state change
as it happens, and a live status line under them (the build log's last line while building,
files and bytes once collected). Off a terminal it prints nothing but the outcome, so scripts,
pipes and ``--json`` stay clean; rich is only imported when a terminal is there to draw on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from lz.host.logtail import read_tail

if TYPE_CHECKING:
    from lz.core.job import Job
    from lz.core.records import Transition


class View(Protocol):
    def changed(self, job: Job, transition: Transition | None) -> None: ...

    def status(self, text: str) -> None: ...

    def close(self) -> None: ...


def state_line(job: Job, transition: Transition | None) -> str:
    """``job 1a2b building`` with what explains the step: the reason of an outcome, the
    collection's figures."""
    line = f"job {job.id} {job.state}"
    if job.state == "cleaned":
        line += f" ({job.outcome}" + (f": {job.reason})" if job.reason else ")")
        if transition is not None and transition.detail:
            line += f"; results: {collected(transition.detail)}"
    elif job.state == "queued" and job.pending_reason:
        line += f" ({job.pending_reason})"
    return line


def collected(detail: str) -> str:
    """``added 2, modified 1, deleted 0, ..., bytes_archived 2048`` -> ``3 files, 2.0 kB``."""
    figures = dict(part.rsplit(" ", 1) for part in detail.split(", ") if " " in part)
    try:
        files = int(figures.get("added", 0)) + int(figures.get("modified", 0))
        size = int(figures.get("bytes_archived", 0))
    except ValueError:
        return detail
    return f"{files} file{'s' if files != 1 else ''}, {human_bytes(size)}"


def human_bytes(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def last_line(path: Path | None, tail_bytes: int = 4096) -> str:
    """The last non-empty line of a log, read from its end only (build logs grow large)."""
    if path is None:
        return ""
    try:
        lines = read_tail(path, tail_bytes)[0].decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    text = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return "".join(c if c.isprintable() else "?" for c in text)[:160]


class Quiet:
    """Off a terminal: only the outcome, once."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def changed(self, job: Job, transition: Transition | None) -> None:
        if job.state == "cleaned":
            self.stream.write(f"lz: {state_line(job, transition)}\n")

    def status(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class Live:
    """On a terminal: rich's console lines above a spinner with the current step."""

    def __init__(self, stream: IO[str]):
        from rich.console import Console

        self.console = Console(file=stream, highlight=False)
        self._status = self.console.status("waiting for the landing zone", spinner="dots")
        self._status.start()

    def changed(self, job: Job, transition: Transition | None) -> None:
        style = {"succeeded": "green", None: "bold"}.get(job.outcome, "red")
        self.console.print(f"[{style}]{_escape(state_line(job, transition))}[/]")

    def status(self, text: str) -> None:
        self._status.update(_escape(text))

    def close(self) -> None:
        self._status.stop()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def view(stream: IO[str]) -> View:
    return Live(stream) if stream.isatty() and os.environ.get("TERM") != "dumb" else Quiet(stream)


def follow(get: Callable[[], Job], history: Callable[[], list[Transition]], log_of: Callable[[Job], Path | None],
           out: View, poll_s: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> Job:
    """Poll a job until it is cleaned, telling ``out`` of every state it passes through (from its
    history, so a state shorter than a poll is still shown) and of the build's last log line."""
    shown = 0
    try:
        while True:
            job = get()
            transitions = history()
            for transition in transitions[shown:]:
                snapshot = job if transition is transitions[-1] else _as_of(job, transition)
                out.changed(snapshot, transition)
            shown = len(transitions)
            if job.state == "cleaned":
                return job
            if job.state == "building":
                out.status(f"building {job.id}: {last_line(log_of(job)) or 'starting'}")
            elif job.state == "collecting":
                out.status(f"collecting {job.id}: archiving new and modified files")
            else:
                out.status(f"{job.state} {job.id}" + (f": {job.pending_reason}" if job.pending_reason else ""))
            sleep(poll_s)
    finally:
        out.close()


def _as_of(job: Job, transition: Transition) -> Job:
    """The job as it was right after an earlier transition (its state; outcome once cleaned)."""
    from lz.core.value_class import replace

    return replace(job, state=transition.to_state, pending_reason=None,
                   outcome=job.outcome if transition.to_state == "cleaned" else None)
