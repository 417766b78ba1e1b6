"""The SLURM executor: sbatch to submit, one squeue per tick to follow, scancel, sstat.

Jobs are named ``<prefix><lz job id>`` so the landing zone can always find its own: a job whose
``sbatch`` answered but whose id was never recorded (the daemon died in between) is adopted by
name instead of being submitted again. Every query is batched over all jobs.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass

from lz.errors import ControllerUnavailable, SubmitRejected
from lz.executors.base import Executor, Observation, Tracked, Usage, read_exit_code, wrapper_script
from lz.process import CommandRunner, CommandTimeout, Completed, run_command
from lz.runtimes.base import JobContext
from lz.slurm import commands
from lz.slurm.parse import ParseError, is_unreachable, parse_sbatch, parse_squeue, parse_sstat, phase_of


@dataclass(frozen=True)
class SlurmOptions:
    prefix: str = "lz-"
    account: str | None = None
    qos: str | None = None
    partition: str | None = None
    extra_sbatch_args: tuple[str, ...] = ()
    gpu_flag: str = "gpus"
    command_timeout: float = 30.0
    user: str | None = None


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(self, options: SlurmOptions | None = None, runner: CommandRunner = run_command):
        self.options = options or SlurmOptions()
        self.runner = runner
        self.user = self.options.user or getpass.getuser()
        self.submit_options = commands.SubmitOptions(
            account=self.options.account, qos=self.options.qos, partition=self.options.partition,
            extra_args=tuple(self.options.extra_sbatch_args), gpu_flag=self.options.gpu_flag,
        )

    def job_name(self, job_id: str) -> str:
        return f"{self.options.prefix}{job_id}"

    def _run(self, argv: Sequence[str]) -> Completed:
        try:
            return self.runner(argv, timeout=self.options.command_timeout)
        except CommandTimeout as exc:
            raise ControllerUnavailable(str(exc)) from exc
        except FileNotFoundError as exc:
            raise ControllerUnavailable(f"{argv[0]} not found: is this a SLURM node?") from exc

    def submit(self, job: JobContext, argv: Sequence[str]) -> str:
        sbatch = commands.sbatch_argv(
            job_name=self.job_name(job.job_id), work_dir=str(job.paths.work), meta_dir=str(job.paths.meta),
            wrapper=str(wrapper_script()), resources=job.spec.resources, options=self.submit_options,
            step_argv=argv,
        )
        result = self._run(sbatch)
        message = (result.stderr or result.stdout).strip()
        if result.returncode != 0:
            if is_unreachable(message):
                raise ControllerUnavailable(f"sbatch: {message}")
            raise SubmitRejected(message or f"sbatch exited {result.returncode}")
        try:
            return parse_sbatch(result.stdout)
        except ParseError as exc:
            raise ControllerUnavailable(str(exc)) from exc

    def observe(self, jobs: Sequence[Tracked]) -> dict[str, Observation]:
        result = self._run(commands.squeue_argv(self.user))
        if result.returncode != 0:
            raise ControllerUnavailable(f"squeue: {(result.stderr or result.stdout).strip()[:300]}")
        try:
            entries = parse_squeue(result.stdout)
        except ParseError as exc:
            raise ControllerUnavailable(str(exc)) from exc
        by_name: dict[str, list] = {}
        for entry in entries:
            if entry.name.startswith(self.options.prefix):
                by_name.setdefault(entry.name, []).append(entry)
        found: dict[str, Observation] = {}
        for job in jobs:
            candidates = by_name.get(self.job_name(job.job_id), [])
            entry = next((e for e in candidates if e.slurm_id == job.executor_id), None)
            if entry is None and candidates:
                # adopted by name: the newest one if several (never expected: one submission per job)
                entry = max(candidates, key=lambda e: int(e.slurm_id.split("_")[0]) if e.slurm_id.split("_")[0].isdigit() else 0)
            exit_code = read_exit_code(job.paths)
            if entry is None:
                found[job.job_id] = (
                    Observation("ended", job.executor_id, "EXITED", exit_code=exit_code)
                    if exit_code is not None else Observation("absent", job.executor_id)
                )
                continue
            phase = phase_of(entry.state)
            if phase == "ended":
                # the wrapper's record is the step's true exit status; SLURM's covers kills
                code = exit_code if exit_code is not None else entry.exit_code
                found[job.job_id] = Observation("ended", entry.slurm_id, entry.state, entry.reason, code)
            else:
                found[job.job_id] = Observation(phase, entry.slurm_id, entry.state, entry.reason)  # type: ignore[arg-type]
        return found

    def cancel(self, jobs: Sequence[Tracked]) -> None:
        ids = [j.executor_id for j in jobs if j.executor_id]
        calls = [commands.scancel_argv(ids)] if ids else []
        calls += [commands.scancel_by_name_argv(self.job_name(j.job_id), self.user) for j in jobs if not j.executor_id]
        for argv in calls:
            result = self._run(argv)
            message = (result.stderr or "").strip()
            if result.returncode != 0 and is_unreachable(message):
                raise ControllerUnavailable(f"scancel: {message}")
            # anything else (e.g. "Job has already finished") is fine: cancel is idempotent

    def usage(self, jobs: Sequence[Tracked]) -> dict[str, Usage]:
        ids = {j.executor_id: j.job_id for j in jobs if j.executor_id}
        if not ids:
            return {}
        result = self._run(commands.sstat_argv(list(ids)))
        usage = parse_sstat(result.stdout)  # partial output is fine: jobs without steps are skipped
        return {ids[sid]: Usage(u.cpu_seconds, u.max_rss_bytes) for sid, u in usage.items() if sid in ids}
