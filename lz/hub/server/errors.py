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


class TooMany(HubError):
    """A rate limit or a lockout: 429, and when to try again (the ``Retry-After`` header)."""

    status = 429

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def retry_after(self) -> str:
        """Whole seconds, at least 1 (what ``Retry-After`` carries)."""
        return str(max(1, int(-(-self.retry_after_s // 1))))


class Busy(TooMany):
    """This process is at its bound of some costly work (password checks): 503, try again soon."""

    status = 503



class BadGateway(HubError):
    """What the hub relays for was not reachable (a job's port: its landing zone or the job refused)."""

    status = 502


class GatewayTimeout(HubError):
    """What the hub relays for did not answer in time (a job's port: no tunnel came)."""

    status = 504
