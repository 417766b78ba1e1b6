"""The daemon's log: stderr (the journal under systemd) or a file, as text or JSON lines.

A file is reopened on SIGHUP, so ``logrotate`` can move it away and signal the daemon (no
``copytruncate``, no lost lines); with ``--log-max`` the daemon also rotates it by itself
(``FILE.1`` ... ``FILE.5``). Every transition is one line carrying the job id, and in JSON the job
id, states and event are fields of their own, so a log shipper needs no parsing.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
from pathlib import Path
from typing import Any

from lz.core.events import ControllerEvent
from lz.core.job import Job
from lz.core.records import Transition

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
BACKUPS = 5
TRANSITIONS = "lz.transitions"
"""The logger of transition lines: always at INFO, whatever -v says (one line per transition)."""


class ReopeningFileHandler(logging.handlers.RotatingFileHandler):
    """A log file that can be reopened by name (after logrotate moved it) and, given a size,
    rotates itself. Created 0600 like everything lz writes (the umask is set before)."""

    def __init__(self, path: Path, max_bytes: int = 0):
        super().__init__(path, maxBytes=max_bytes, backupCount=BACKUPS if max_bytes else 0, encoding="utf-8")

    def reopen(self) -> None:
        self.acquire()
        try:
            if self.stream:
                self.stream.close()
            self.stream = self._open()
        finally:
            self.release()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601 UTC), level, logger, message, and the job fields
    when the record carries them."""

    FIELDS = ("job", "from_state", "to_state", "event", "detail", "program")

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure(*, path: Path | None, max_bytes: int = 0, fmt: str = "text", verbose: int = 0) -> None:
    """Set up the root logger for ``lz run``: once, at start."""
    handler: logging.Handler = ReopeningFileHandler(path, max_bytes) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    logging.getLogger(TRANSITIONS).setLevel(logging.INFO)
    if verbose < 2:
        logging.getLogger("apscheduler").setLevel(logging.ERROR)


def reopen() -> list[str]:
    """Reopen every log file (SIGHUP); returns their paths."""
    reopened = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, ReopeningFileHandler):
            handler.reopen()
            reopened.append(handler.baseFilename)
    return reopened


def log_files() -> list[str]:
    return [h.baseFilename for h in logging.getLogger().handlers if isinstance(h, ReopeningFileHandler)]


class TransitionLog:
    """One log line per transition, with the job id on it (a listener, like any other)."""

    def __init__(self) -> None:
        self.log = logging.getLogger(TRANSITIONS)

    def on_transition(self, job: Job, transition: Transition) -> None:
        self.log.info("job %s: %s -> %s (%s)%s", job.id, transition.from_state or "-", transition.to_state,
                      transition.event, f": {transition.detail}" if transition.detail else "",
                      extra={"job": job.id, "from_state": transition.from_state, "to_state": transition.to_state,
                             "event": transition.event, "detail": transition.detail})

    def on_controller(self, event: ControllerEvent) -> None:
        if event.kind == "call" and not event.ok:
            logging.getLogger("lz.controller").info("controller: %s failed after %.1fs", event.program, event.seconds,
                          extra={"program": event.program})
