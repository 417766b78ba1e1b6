"""Adding options to a built sbatch argv (pure): for the flags that come from outside the job's own
spec, such as ``--dependency`` (``lz.core.dependencies``)."""

from __future__ import annotations

from collections.abc import Sequence


def with_options(sbatch: Sequence[str], options: Sequence[str]) -> list[str]:
    """``options`` right after ``sbatch --parsable``: before the batch script, where sbatch reads them
    (anything after the script is the script's own arguments)."""
    argv = list(sbatch)
    if not options:
        return argv
    if argv[:2] != ["sbatch", "--parsable"]:
        raise ValueError("not an argv of sbatch_argv")
    return [*argv[:2], *options, *argv[2:]]
