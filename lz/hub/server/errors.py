"""Refusals of the hub, each with an HTTP status and a one-line reason for the user."""

from __future__ import annotations

from lz.core.errors import UserError


class HubError(UserError):
    status = 400


class Unauthorized(HubError):
    status = 401


class Forbidden(HubError):
    status = 403


class NotFound(HubError):
    """Also used for what exists but the caller may not see (no existence oracle)."""

    status = 404


class Conflict(HubError):
    """A stale attempt (fencing), a lease that is gone, or a name taken."""

    status = 409


class TooLarge(HubError):
    status = 413


class Invalid(HubError):
    status = 422


class Busy(HubError):
    """Too much of one kind of work at once: try again after ``retry_after_s`` (Retry-After)."""

    status = 503

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s
