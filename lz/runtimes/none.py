"""No container: the job's command runs directly in its work directory."""

from __future__ import annotations

from typing import IO

from lz.errors import BuildError
from lz.job import JobContext
from lz.runtimes.base import Runtime


class NoneRuntime(Runtime):
    name = "none"

    def build(self, job: JobContext, log: IO[str], timeout_s: float | None = None) -> None:
        if not job.spec.command:
            raise BuildError("this landing zone runs jobs without a container, and the job has no command")
        log.write("runtime none: nothing to build; the command runs directly\n")

    def run_argv(self, job: JobContext) -> list[str]:
        command = list(job.spec.command or ())
        if job.spec.env:
            # `env NAME=VALUE... cmd`: the job's declared variables on top of the executor's clean set
            return ["env", *(f"{k}={v}" for k, v in sorted(job.spec.env.items())), *command]
        return command

    def describe(self) -> str:
        return "commands run directly, no container"
