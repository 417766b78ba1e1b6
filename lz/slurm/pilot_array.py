"""The pilots' job-array batch file and the argv of the commands around it (pure).

Every value that came from the user is quoted with ``shlex.quote`` (argv-safe); nothing is
pasted into the script as raw shell. The landing zone's name is the pattern with ``{index}``
replaced by ``$SLURM_ARRAY_TASK_ID`` (the only expansion in the script)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from lz.core.errors import UserError

_PATTERN = re.compile(r"^[A-Za-z0-9._-]*\{index\}[A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class PilotArray:
    count: int
    name_pattern: str
    hub: str
    token_file: str
    lz: Sequence[str]  # how to start lz on the node (argv), when there is no image
    time: str | None = None
    cpus: int | None = None
    memory: str | None = None
    partition: str | None = None
    image: str | None = None  # the pilot image (.sif): run through ``apptainer run --fakeroot``
    output_dir: str | None = None
    allow_insecure_hub: bool = False  # the user allowed a plain http hub: the pilots are told so too

    @property
    def job_name(self) -> str:
        return slurm_job_name(self.name_pattern)


def check_pattern(pattern: str) -> None:
    if not _PATTERN.fullmatch(pattern) or len(pattern) > 48:
        raise UserError(f"--name-pattern {pattern!r}: letters, digits, . _ - and one {{index}} (at most 48)")


def slurm_job_name(pattern: str) -> str:
    """The array's SLURM job name, what ``scancel --name`` matches: the pattern without its index."""
    check_pattern(pattern)
    return pattern.replace("{index}", "").strip("._-") or "lz-pilot"


def batch_script(array: PilotArray) -> str:
    if array.count < 1 or array.count > 10_000:
        raise UserError("--count must be between 1 and 10000")
    before, after = array.name_pattern.split("{index}")
    lines = ["#!/bin/bash", f"#SBATCH --job-name={shlex.quote(array.job_name)}",
             f"#SBATCH --array=1-{array.count}",
             "#SBATCH --ntasks=1"]  # one pilot, one task: its CPUs are what it asked for (SLURM_NTASKS)
    for flag, value in (("--time", array.time), ("--cpus-per-task", array.cpus), ("--mem", array.memory),
                        ("--partition", array.partition)):
        if value is not None:
            lines.append(f"#SBATCH {flag}={shlex.quote(str(value))}")
    out = (array.output_dir.rstrip("/") + "/") if array.output_dir else ""
    lines.append(f"#SBATCH --output={shlex.quote(out + '%x-%A_%a.out')}")
    lines.append("# the pilot IS the batch step (exec): scancel's SIGTERM reaches it and it drains")
    if array.image:
        start = ["apptainer", "run", "--fakeroot", array.image]
    else:
        start = [*array.lz, "run", "--container", "none"]
    name = f"{shlex.quote(before)}\"$SLURM_ARRAY_TASK_ID\"{shlex.quote(after)}"
    lines.append("exec " + " ".join(shlex.quote(a) for a in start) + f" --name {name} --hub "
                 + shlex.quote(array.hub) + " --token " + shlex.quote(array.token_file)
                 + (" --allow-insecure-hub" if array.allow_insecure_hub else ""))
    return "\n".join(lines) + "\n"


def sbatch_argv(script_path: str) -> list[str]:
    return ["sbatch", "--parsable", script_path]


def parse_array_id(stdout: str) -> str:
    """``sbatch --parsable``: ``123`` or ``123;cluster``."""
    first = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    return first.split(";")[0]


def squeue_argv(job_name: str) -> list[str]:
    return ["squeue", "-h", "-r", "--name", job_name, "-o", "%A|%K|%T|%L"]


def parse_squeue(stdout: str) -> list[dict[str, str]]:
    """One row per array task: job id, task index, state, time left."""
    rows = []
    for line in stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4:
            rows.append({"job_id": parts[0], "index": parts[1], "state": parts[2], "time_left": parts[3]})
    return rows


def scancel_argv(job_name: str) -> list[str]:
    return ["scancel", "--name", job_name]
