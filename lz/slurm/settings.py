"""The site's SLURM settings: one type, read from ``[slurm]`` and handed to the executor and the
argv builders as it is (pure; validated on construction)."""

from __future__ import annotations

import re

from lz.core.errors import ConfigError
from lz.core.value_class import field, value_class


@value_class
class SlurmSettings:
    """``[slurm]``: how jobs are handed to sbatch (each field's meaning in its ``help``)."""

    account: str | None = field(default=None, metadata={"help": "`--account` for every job."})
    qos: str | None = field(default=None, metadata={"help": "`--qos` for every job."})
    partition: str | None = field(default=None, metadata={"help": "Default partition when a job names none."})
    extra_sbatch_args: tuple[str, ...] = field(default=(), metadata={"help":
        "More sbatch options, each `--name=value`."})
    gpu_flag: str = field(default="gpus", metadata={"help": "`gpus` for `--gpus=N`, `gres` for `--gres=gpu:N`."})
    command_timeout_s: float = field(default=30.0, metadata={"help":
        'A SLURM command slower than this counts as "controller down".'})
    user: str | None = field(default=None, metadata={"help": "Whose jobs `squeue` lists (default: the daemon's user)."})
    mpi: str | None = field(default=None, metadata={"help":
        "`srun --mpi=` for jobs of several tasks (`pmi2`, `pmix`; see `srun --mpi=list`; default: the cluster's MpiDefault)."})

    def __post_init__(self) -> None:
        if self.gpu_flag not in ("gpus", "gres"):
            raise ConfigError(f"[slurm] gpu_flag must be 'gpus' or 'gres', not {self.gpu_flag!r}")
        for arg in self.extra_sbatch_args:
            # a bare word would become sbatch's script, and the wrapper one of its arguments
            if not arg.startswith("-"):
                raise ConfigError(f"[slurm] extra_sbatch_args: {arg!r} is not an option: write --name=value")
        if self.mpi is not None and not re.fullmatch(r"[a-z0-9_]{1,32}", self.mpi):
            raise ConfigError(f"[slurm] mpi must be a plugin name such as pmi2 or pmix, not {self.mpi!r}")
        if self.command_timeout_s <= 0:
            raise ConfigError("[slurm] command_timeout_s must be positive")
