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
import time
from collections.abc import Callable, Sequence

from lz.core.array import task_id
from lz.core.dependencies import sbatch_dependency
from lz.core.errors import ControllerUnavailable, ControlRefused
from lz.core.records import JobContext, Observation, ProcessInfo, Tracked, Usage
from lz.executors.array_tasks import mark_cancelled, slurm_array_observation, task_wrapper
from lz.executors.base import Executor, read_exit_code, wrapper_script
from lz.host.process import CommandRunner, CommandTimeout, Completed, run_command
from lz.slurm import commands
from lz.slurm.options import with_options
from lz.slurm.parse import (
    QueueEntry,
    phase_of,
    read_listpids,
    read_sbatch,
    read_scancel,
    read_scontrol,
    read_squeue,
    read_sstat,
)
from lz.slurm.settings import SlurmSettings

log = logging.getLogger(__name__)

STOP_MARK = "stop-signalled"
"""Written before ``scancel --signal=TERM``: the signal goes once, the grace period runs from it."""


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(self, settings: SlurmSettings | None = None, *, prefix: str = "lz-",
                 runner: CommandRunner = run_command, stop_grace_s: float = 10.0,
                 clock: Callable[[], float] = time.time):
        self.settings = settings or SlurmSettings()
        self.prefix = prefix
        self.runner = runner
        self.stop_grace_s = stop_grace_s
        self.clock = clock
        self.user = self.settings.user or getpass.getuser()

    def job_name(self, job_id: str, attempt: int = 1) -> str:
        """``lz-<id>``, and ``lz-<id>.a<N>`` for a later attempt: a search by name (adoption, and
        every squeue) never takes an older attempt's SLURM job for the current one's."""
        return f"{self.prefix}{job_id}" + (f".a{attempt}" if attempt > 1 else "")

    def _run(self, argv: Sequence[str]) -> Completed:
        try:
            return self.runner(argv, timeout=self.settings.command_timeout_s)
        except CommandTimeout as exc:
            raise ControllerUnavailable(str(exc)) from exc
        except FileNotFoundError as exc:
            raise ControllerUnavailable(f"{argv[0]} not found: is this a SLURM submit host?") from exc

    def submit(self, job: JobContext, argv: Sequence[str]) -> str:
        array = job.spec.array  # a sweep: one sbatch --array, each task through its own wrapper
        sbatch = commands.sbatch_argv(
            job_name=self.job_name(job.job_id, job.attempt), work_dir=str(job.paths.work),
            meta_dir=str(job.paths.meta),
            wrapper=str(task_wrapper() if array else wrapper_script()), resources=job.spec.resources,
            options=self.settings, step_argv=argv, array=array,
            wrapper_args=[str(wrapper_script())] if array else (),
        )
        sbatch = with_options(sbatch, [flag] if (flag := sbatch_dependency(job.after)) else [])
        reply = self._run(sbatch)
        return read_sbatch(reply.returncode, reply.stdout, reply.stderr)

    def observe(self, jobs: Sequence[Tracked]) -> dict[str, Observation]:
        """One squeue for all jobs; the exit file covers jobs squeue no longer lists."""
        entries = self._queue()
        found: dict[str, Observation] = {}
        for job in jobs:
            if job.array:
                found[job.job_id] = slurm_array_observation(job, entries.get(self.job_name(job.job_id, job.attempt), []))
                continue
            entry = _pick(entries.get(self.job_name(job.job_id, job.attempt), []), job.executor_id)
            if entry is not None and phase_of(entry.state) != "ended":  # the disk has nothing to add yet
                found[job.job_id] = Observation(phase_of(entry.state), entry.slurm_id, entry.state, entry.reason,
                                                seen_before=True)
                continue
            exit_code = read_exit_code(job.paths)
            if entry is None:
                found[job.job_id] = (
                    Observation("ended", job.executor_id, "EXITED", exit_code=exit_code)
                    if exit_code is not None
                    else Observation("absent", job.executor_id, seen_before=_started(job))
                )
                continue
            # ended: the wrapper's record is the step's own exit status; SLURM's covers a killed wrapper
            code = exit_code if exit_code is not None else entry.exit_code
            found[job.job_id] = Observation("ended", entry.slurm_id, entry.state, entry.reason, code,
                                            seen_before=True)
        return found

    def _queue(self) -> dict[str, list[QueueEntry]]:
        """Our jobs in the controller's table, by name."""
        reply = self._run(commands.squeue_argv(self.user))
        by_name: dict[str, list[QueueEntry]] = {}
        for entry in read_squeue(reply.returncode, reply.stdout, reply.stderr):
            if entry.name.startswith(self.prefix):
                by_name.setdefault(entry.name, []).append(entry)
        return by_name

    def cancel(self, jobs: Sequence[Tracked]) -> None:
        """One scancel for every known id; one per job whose id was never recorded (by name)."""
        ids = [j.executor_id for j in jobs if j.executor_id]
        calls = [commands.scancel_argv(ids)] if ids else []
        calls += [commands.scancel_by_name_argv(self.job_name(j.job_id, j.attempt), self.user)
                  for j in jobs if not j.executor_id]
        for argv in calls:
            reply = self._run(argv)
            complaint = read_scancel(reply.returncode, reply.stdout, reply.stderr)
            if complaint:  # e.g. "Job/step already completing or completed"
                log.info("scancel: %s", complaint)

    def cancel_tasks(self, job: Tracked, indices: Sequence[int]) -> None:
        """``scancel ID_7 ID_9``, each task's mark written first (a task cancelled while pending
        leaves no line in squeue: the mark is how lz knows it was cancelled, not lost)."""
        if not job.executor_id:
            raise ControlRefused(f"cannot cancel tasks of job {job.job_id}: its SLURM id is not known yet")
        for index in indices:
            mark_cancelled(job.paths, index, self.clock())
        reply = self._run(commands.scancel_argv([task_id(job.executor_id, i) for i in indices]))
        complaint = read_scancel(reply.returncode, reply.stdout, reply.stderr)
        if complaint:
            log.info("scancel: %s", complaint)

    def stop(self, jobs: Sequence[Tracked]) -> None:
        """SIGTERM to the job's step (``scancel --signal=TERM``, see ``scancel_signal_argv`` for
        why not ``--full``) once, the mark written first; the normal scancel once the grace period
        has passed."""
        signal_now, cancel_now = [], []
        for job in jobs:
            mark = job.paths.meta / STOP_MARK
            if not job.executor_id:
                cancel_now.append(job)
            elif not mark.exists():
                mark.write_text(f"{self.clock()}\n")
                signal_now.append(job.executor_id)
            elif self.clock() - mark.stat().st_mtime > self.stop_grace_s:
                cancel_now.append(job)
        if signal_now:
            self._signal(signal_now, "TERM", full=False)
        if cancel_now:
            self.cancel(cancel_now)

    def kill(self, jobs: Sequence[Tracked]) -> None:
        """SIGKILL to every process (``scancel --signal=KILL --full``), then the normal scancel."""
        ids = [j.executor_id for j in jobs if j.executor_id]
        if ids:
            self._signal(ids, "KILL", full=True)
        self.cancel(jobs)

    def _signal(self, ids: list[str], signal: str, *, full: bool) -> None:
        reply = self._run(commands.scancel_signal_argv(ids, signal, full=full))
        complaint = read_scancel(reply.returncode, reply.stdout, reply.stderr)
        if complaint:
            log.info("scancel --signal=%s: %s", signal, complaint)

    def pause(self, job: Tracked, *, started: bool) -> None:
        """``scontrol suspend`` a running job (operator rights), ``scontrol hold`` a pending one."""
        self._scontrol("suspend" if started else "hold", job)

    def resume(self, job: Tracked, *, started: bool) -> None:
        self._scontrol("resume" if started else "release", job)

    def _scontrol(self, action: str, job: Tracked) -> None:
        if not job.executor_id:
            raise ControlRefused(f"cannot {action} job {job.job_id}: its SLURM id is not known yet")
        reply = self._run(commands.scontrol_argv(action, job.executor_id))
        read_scontrol(action, reply.returncode, reply.stdout, reply.stderr)

    def processes(self, job: Tracked) -> list[ProcessInfo]:
        """``scontrol listpids`` (works on the job's node, e.g. a single-node site), then psutil;
        elsewhere nothing (``lz top`` then shows sstat's totals)."""
        if not job.executor_id:
            return []
        reply = self._run(commands.listpids_argv(job.executor_id))
        import psutil

        found = []
        for pid in read_listpids(reply.returncode, reply.stdout, reply.stderr):
            try:
                proc = psutil.Process(pid)
                with proc.oneshot():
                    found.append(ProcessInfo(pid, " ".join(proc.cmdline()) or proc.name(),
                                             proc.cpu_percent(0.1), proc.memory_info().rss, proc.status()))
            except psutil.Error:
                continue
        return found

    def usage(self, jobs: Sequence[Tracked]) -> dict[str, Usage]:
        """One sstat for all running jobs; never fatal (usage is advisory)."""
        ids = {j.executor_id: j.job_id for j in jobs if j.executor_id}
        if not ids:
            return {}
        try:
            reply = self._run(commands.sstat_argv(list(ids)))
        except ControllerUnavailable as exc:
            log.info("sstat: %s", exc)
            return {}
        usage = read_sstat(reply.returncode, reply.stdout, reply.stderr)
        return {ids[sid]: Usage(u.cpu_seconds, u.max_rss_bytes) for sid, u in usage.items() if sid in ids}


def _started(job: Tracked) -> bool:
    """The wrapper leaves its pid file when the batch script starts: a trace that it ran."""
    return job.paths.pid_file.exists()


def _pick(candidates: list[QueueEntry], slurm_id: str | None) -> QueueEntry | None:
    """The entry with the recorded id; else (adoption by name) the newest, should there be two."""
    for entry in candidates:
        if entry.slurm_id == slurm_id:
            return entry
    return max(candidates, key=lambda e: _id_number(e.slurm_id), default=None)


def _id_number(slurm_id: str) -> int:
    head = slurm_id.split("_", 1)[0].split("+", 1)[0]
    return int(head) if head.isdigit() else 0

