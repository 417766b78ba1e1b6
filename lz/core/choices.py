"""The words the settings take for where jobs run and what they run in. A module of their own, so
the CLI builds its --container, --executor and --runtime choices without loading ``lz.config``
(TOML, resources, volumes) just to print ``lz --help``."""

from __future__ import annotations

EXECUTORS = ("local", "slurm")
RUNTIMES = ("apptainer", "singularity", "charliecloud", "none", "auto")
CONTAINERS = ("slurm", *RUNTIMES)
