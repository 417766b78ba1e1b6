"""No container: the job's command runs directly in its work directory."""

from __future__ import annotations

from typing import IO

from lz.core.errors import BuildError
from lz.core.records import JobContext
from lz.runtimes.base import Runtime


class NoneRuntime(Runtime):
    name = "none"

    def build(self, job: JobContext, log: IO[str], timeout_s: float | None = None) -> None:
        if not job.spec.command:
            raise BuildError("this landing zone runs jobs without a container, and the job has no command")
        log.write("runtime none: nothing to build; the command runs directly\n")

    def run_argv(self, job: JobContext) -> list[str]:
        """Volumes cannot be mounted without a container: each is ``LZ_VOLUME_<NAME>`` (its host
        path) in the job's environment; ``ro`` is then up to the host's file permissions."""
        command = list(job.spec.command or ())
        env = {**{v.env_name: v.host_path for v in job.spec.volumes}, **job.spec.env}
        if env:
            # `env NAME=VALUE... cmd`: the job's declared variables on top of the executor's clean set
            return ["env", *(f"{k}={v}" for k, v in sorted(env.items())), *command]
        return command

    def work_inside(self, job: JobContext) -> str:
        return str(job.paths.work)

    def describe(self) -> str:
        return "commands run directly, no container"
