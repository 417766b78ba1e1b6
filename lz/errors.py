"""The error hierarchy.

A ``UserError`` is a mistake the user can fix: the CLI prints its message as one line and exits
non-zero. Anything else that escapes is a bug and keeps its traceback.
"""


class LzError(Exception):
    """Base of every error lz raises on purpose."""


class UserError(LzError):
    """Bad input or a request that cannot be honoured; the message is one line for the user."""


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


class StoreBusy(LzError):
    """Another process held the database's write lock past the busy timeout: retry later, the
    state is unchanged (nothing was written)."""
