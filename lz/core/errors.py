"""The error hierarchy.

A ``UserError`` is a mistake the user can fix: the CLI prints its message as one line and exits
non-zero. Anything else that escapes is a bug and keeps its traceback.
"""


def printable(text: str) -> str:
    """``text`` as it can be printed on one line: control characters and bad bytes escaped."""
    return repr(text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))[1:-1]


class LzError(Exception):
    """Base of every error lz raises on purpose."""


class UserError(LzError):
    """Bad input or a request that cannot be honoured; the message is one line for the user."""


class Unavailable(LzError):
    """Something lz talks to did not answer (a hub over the network): not a bug, so the CLI prints
    one line (exit status 2); a daemon retries later."""


class BundleError(UserError):
    """A job folder or tarball was refused at intake (the message names the file)."""


class ResourceError(UserError):
    """A resource request is malformed or beyond the site's limits."""


class ConfigError(UserError):
    """The configuration file or a flag holds a bad value."""


class InvalidTransition(UserError):
    """An event that the job's current state does not accept."""


class JobNotFound(UserError):
    """No job with that id in this landing zone."""


class BuildError(LzError):
    """The container build failed; the message carries the tail of the build log."""


class ControllerUnavailable(LzError):
    """The scheduler's controller did not answer (error or timeout): back off, never fail a job."""


class SubmitRejected(LzError):
    """The scheduler answered and refused the job (bad partition, over a QOS...): the job fails."""


class CollectionError(LzError):
    """A job's results could not be stored (the results store is full or cannot be written). Nothing
    is lost: the half-built result is removed and collecting again starts over, so the caller retries
    later (with a back-off) and shows the message, one line, as the job's reason."""

    retryable = True


class StoreBusy(LzError):
    """Another process held the database's write lock past the busy timeout: retry later, the
    state is unchanged (nothing was written)."""


class ControlRefused(UserError):
    """The executor refused a pause or resume (e.g. scontrol suspend without operator rights);
    the job is unchanged."""
