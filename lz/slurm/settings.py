"""The site's SLURM settings: one type, read from ``[slurm]`` and handed to the executor and the
argv builders as it is (pure; validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass

from lz.core.errors import ConfigError


@dataclass(frozen=True)
class SlurmSettings:
    account: str | None = None
    qos: str | None = None
    partition: str | None = None
    extra_sbatch_args: tuple[str, ...] = ()
    gpu_flag: str = "gpus"  # "gpus": --gpus=N; "gres": --gres=gpu:N
    command_timeout_s: float = 30.0
    user: str | None = None  # whose jobs squeue lists; the daemon's user by default

    def __post_init__(self) -> None:
        if self.gpu_flag not in ("gpus", "gres"):
            raise ConfigError(f"[slurm] gpu_flag must be 'gpus' or 'gres', not {self.gpu_flag!r}")
        for arg in self.extra_sbatch_args:
            # a bare word would become sbatch's script, and the wrapper one of its arguments
            if not arg.startswith("-"):
                raise ConfigError(f"[slurm] extra_sbatch_args: {arg!r} is not an option: write --name=value")
        if self.command_timeout_s <= 0:
            raise ConfigError("[slurm] command_timeout_s must be positive")
