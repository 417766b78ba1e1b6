"""The Python API's errors: one base to catch, a subclass for each thing a caller may handle
differently. Each is a ``UserError`` (one line): the CLI, built on this API, prints it as such."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lz.core.errors import UserError

if TYPE_CHECKING:
    from lz.client.api import Job


class Error(UserError):
    """Base of every error ``lz.client`` raises."""


class NotFound(Error):
    """No such job (or Station) here, or not one this user may see."""


class Refused(Error):
    """The request was understood and refused (a hub's 4xx, a job in the wrong state for it);
    ``status`` is the HTTP status, None locally."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Unavailable(Error):
    """The hub did not answer after its retries, or the landing zone's database cannot be used:
    nothing was done, try again later."""


class Timeout(Error):
    """``Job.wait`` gave up; ``job`` is the job as last seen (it goes on without the caller)."""

    def __init__(self, message: str, job: Job):
        super().__init__(message)
        self.job = job


class Rejected(Error):
    """Intake refused the job (bad lz.toml, too large, over the limits); ``job`` is its record where
    one was kept (a landing zone records it, cleaned and failed; a hub keeps none)."""

    def __init__(self, message: str, job: Job | None = None, data: dict[str, Any] | None = None):
        super().__init__(message)
        self.job = job
        self.data = data  # the record's JSON, until the client makes it ``job``


@contextmanager
def translated() -> Iterator[None]:
    """lz's own errors as the API's: a missing job is ``NotFound``, a request its state does not
    allow is ``Refused``, any other one-line mistake an ``Error`` (same message)."""
    from lz.core.errors import ControlRefused, InvalidTransition, JobNotFound

    try:
        yield
    except Error:
        raise
    except JobNotFound as exc:
        raise NotFound(str(exc)) from None
    except (InvalidTransition, ControlRefused) as exc:
        raise Refused(str(exc)) from None
    except UserError as exc:
        raise Error(str(exc)) from None
