"""The SLURM executor: sbatch to submit, one squeue per tick to follow, scancel, sstat.

Jobs are named ``<prefix><lz job id>`` so the landing zone always finds its own: a job whose
``sbatch`` answered but whose id was never recorded (the daemon died in between) is adopted by
name instead of being submitted again. Every query is batched over all jobs.

No ``sacct``: it needs slurmdbd, which many small sites (and the dev cluster) do not run. Nothing
is lost for lz: the wrapper's exit file records how the step ended, and squeue --states=all keeps
an ended job with its Exit_Code for MinJobAge (300 s by default), many ticks long.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from lz.errors import ConfigError, ControllerUnavailable, SubmitRejected
from lz.executors.base import Executor, read_exit_code, wrapper_script
from lz.job import JobContext, Observation, Tracked, Usage
from lz.process import CommandRunner, CommandTimeout, Completed, run_command
from lz.slurm import commands
from lz.slurm.parse import ParseError, QueueEntry, is_unreachable, parse_sbatch, parse_squeue, parse_sstat, phase_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlurmOptions:
    """Site settings for the SLURM executor (from the ``[slurm]`` table of the config)."""

    prefix: str = "lz-"
    account: str | None = None
    qos: str | None = None
    partition: str | None = None
    extra_sbatch_args: tuple[str, ...] = ()
    gpu_flag: str = "gpus"  # "gpus": --gpus=N; "gres": --gres=gpu:N
    command_timeout: float = 30.0
    user: str | None = None  # whose jobs squeue lists; the daemon's user by default

    def __post_init__(self) -> None:
        if self.gpu_flag not in ("gpus", "gres"):
            raise ConfigError(f"slurm gpu_flag must be 'gpus' or 'gres', not {self.gpu_flag!r}")
        for arg in self.extra_sbatch_args:
            # a bare word would become sbatch's script, and the wrapper one of its arguments
            if not arg.startswith("-"):
                raise ConfigError(f"extra sbatch argument {arg!r} is not an option: write --name=value")


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
            raise ControllerUnavailable(f"{argv[0]} not found: is this a SLURM submit host?") from exc

    def submit(self, job: JobContext, argv: Sequence[str]) -> str:
        sbatch = commands.sbatch_argv(
            job_name=self.job_name(job.job_id), work_dir=str(job.paths.work), meta_dir=str(job.paths.meta),
            wrapper=str(wrapper_script()), resources=job.spec.resources, options=self.submit_options,
            step_argv=argv,
        )
        result = self._run(sbatch)
        if result.returncode != 0:
            message = (result.stderr.strip() or result.stdout.strip())
            if is_unreachable(message):
                raise ControllerUnavailable(f"sbatch: {message}")
            raise SubmitRejected(_last_error(message) or f"sbatch exited {result.returncode}")
        try:
            return parse_sbatch(result.stdout)
        except ParseError as exc:  # it said yes without an id: maybe queued, so reconcile by name
            raise ControllerUnavailable(str(exc)) from exc

    def observe(self, jobs: Sequence[Tracked]) -> dict[str, Observation]:
        """One squeue for all jobs; the exit file covers jobs squeue no longer lists."""
        entries = self._queue()
        found: dict[str, Observation] = {}
        for job in jobs:
            entry = _pick(entries.get(self.job_name(job.job_id), []), job.executor_id)
            exit_code = read_exit_code(job.paths)
            if entry is None:
                found[job.job_id] = (
                    Observation("ended", job.executor_id, "EXITED", exit_code=exit_code)
                    if exit_code is not None else Observation("absent", job.executor_id)
                )
                continue
            phase = phase_of(entry.state)
            if phase == "ended":
                # the wrapper's record is the step's own exit status; SLURM's covers a killed wrapper
                code = exit_code if exit_code is not None else entry.exit_code
                found[job.job_id] = Observation("ended", entry.slurm_id, entry.state, entry.reason, code)
            else:
                found[job.job_id] = Observation(phase, entry.slurm_id, entry.state, entry.reason)
        return found

    def _queue(self) -> dict[str, list[QueueEntry]]:
        """Our jobs in the controller's table, by name."""
        result = self._run(commands.squeue_argv(self.user))
        if result.returncode != 0:
            raise ControllerUnavailable(f"squeue: {(result.stderr or result.stdout).strip()[:300]}")
        try:
            entries = parse_squeue(result.stdout)
        except ParseError as exc:
            raise ControllerUnavailable(str(exc)) from exc
        by_name: dict[str, list[QueueEntry]] = {}
        for entry in entries:
            if entry.name.startswith(self.options.prefix):
                by_name.setdefault(entry.name, []).append(entry)
        return by_name

    def cancel(self, jobs: Sequence[Tracked]) -> None:
        """One scancel for every known id; one per job whose id was never recorded (by name)."""
        ids = [j.executor_id for j in jobs if j.executor_id]
        calls = [commands.scancel_argv(ids)] if ids else []
        calls += [commands.scancel_by_name_argv(self.job_name(j.job_id), self.user) for j in jobs if not j.executor_id]
        for argv in calls:
            result = self._run(argv)
            if result.returncode == 0:
                continue
            message = (result.stderr or result.stdout).strip()
            if is_unreachable(message):
                raise ControllerUnavailable(f"scancel: {message}")
            # e.g. "Job/step already completing or completed": cancel is idempotent
            log.info("scancel: %s", message[:300])

    def usage(self, jobs: Sequence[Tracked]) -> dict[str, Usage]:
        """One sstat for all running jobs; never fatal (usage is advisory)."""
        ids = {j.executor_id: j.job_id for j in jobs if j.executor_id}
        if not ids:
            return {}
        try:
            result = self._run(commands.sstat_argv(list(ids)))
        except ControllerUnavailable as exc:
            log.info("sstat: %s", exc)
            return {}
        # sstat exits 1 when one job has no step yet, yet prints the others: take what is there
        usage = parse_sstat(result.stdout)
        return {ids[sid]: Usage(u.cpu_seconds, u.max_rss_bytes) for sid, u in usage.items() if sid in ids}

    def free_slots(self) -> int | None:
        return None  # SLURM queues


def _pick(candidates: list[QueueEntry], slurm_id: str | None) -> QueueEntry | None:
    """The entry with the recorded id; else (adoption by name) the newest, should there be two."""
    for entry in candidates:
        if entry.slurm_id == slurm_id:
            return entry
    return max(candidates, key=lambda e: _id_number(e.slurm_id), default=None)


def _id_number(slurm_id: str) -> int:
    head = slurm_id.split("_", 1)[0].split("+", 1)[0]
    return int(head) if head.isdigit() else 0


def _last_error(message: str) -> str:
    """sbatch says why last ("Batch job submission failed: ..."); keep its whole text if short."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " / ".join(lines[-3:])
