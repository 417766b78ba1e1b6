"""argv for sbatch, squeue, sstat and scancel (pure: no process is started here)."""

from __future__ import annotations

from collections.abc import Sequence

from lz.core.resources import Resources, format_memory, format_time
from lz.slurm.settings import SlurmSettings

SQUEUE_FIELDS = ("JobArrayID", "State", "Reason", "Exit_Code", "Name")
"""Name last: a foreign job's name may hold the delimiter (or a newline), so lines split from the left.
``-O`` rather than ``-o``: only ``-O`` has Exit_Code, so an ended job's status needs no second call.
JobArrayID rather than JobID: the same id for a plain job, and ``123_7`` / ``123_[8-99%10]`` for the
tasks of a sweep (JobID gives each task a number of its own, unrelated to its index)."""
DELIMITER = "|"
SSTAT_FIELDS = ("JobID", "MaxRSS", "AveCPU", "NTasks")
"""22.05's sstat has no TotalCPU: AveCPU (per task) times NTasks is the step's CPU time."""


def sbatch_argv(*, job_name: str, work_dir: str, meta_dir: str, wrapper: str, resources: Resources,
                options: SlurmSettings, step_argv: Sequence[str], array: str | None = None,
                wrapper_args: Sequence[str] = ()) -> list[str]:
    """``sbatch --parsable ... wrapper META srun ... ARGV``.

    A sweep (``array``, canonical as lz.core.array writes it) is one ``sbatch --array=SPEC``: each
    task's batch output goes to its own ``slurm-<index>.out``, and the wrapper is the task's
    (``wrapper_args``: its own arguments before META).

    The job's argv travels as the batch script's own arguments, so user input never becomes shell
    text. ``--export=NONE`` keeps the daemon's environment (and any secret in it) out of the job:
    Slurm then loads the user's login environment on the node, which is what srun and the job need.
    """
    argv = [
        "sbatch", "--parsable",
        f"--job-name={job_name}",
        f"--chdir={work_dir}",
        f"--output={meta_dir}/{'slurm-%a.out' if array else 'slurm.out'}",
        f"--error={meta_dir}/{'slurm-%a.out' if array else 'slurm.out'}",
        *([f"--array={array}"] if array else []),
        *layout_argv(resources),
        "--export=NONE",
    ]
    if resources.memory_mb:
        argv.append(memory_argv(resources, resources.memory_mb))
    if resources.gpus:
        argv.append(f"--gres=gpu:{resources.gpus}" if options.gpu_flag == "gres" else f"--gpus={resources.gpus}")
    if resources.time_s:
        argv.append(f"--time={format_time(resources.time_s)}")
    partition = resources.partition or options.partition
    if partition:
        argv.append(f"--partition={partition}")
    if options.account:
        argv.append(f"--account={options.account}")
    if options.qos:
        argv.append(f"--qos={options.qos}")
    argv.extend(options.extra_sbatch_args)
    argv += [wrapper, *wrapper_args, meta_dir, *srun_argv(resources, mpi=options.mpi), *step_argv]
    return argv


def layout_argv(resources: Resources) -> list[str]:
    """Tasks and CPUs, the same for sbatch and the step's srun (README: the mapping table).
    One task by default; ``distributed`` is the original product's ``cpus`` tasks of one CPU."""
    r = resources
    argv = [f"--ntasks={r.task_count}"]
    if r.nodes:
        argv.append(f"--nodes={r.nodes}")
    if r.tasks_per_node:
        argv.append(f"--ntasks-per-node={r.tasks_per_node}")
    return [*argv, f"--cpus-per-task={r.cpus_per_task}"]


def memory_argv(resources: Resources, memory_mb: int) -> str:
    """``memory`` is the whole job's. One task: ``--mem`` (its node). Tasks over a known number
    of nodes with a fixed count on each: ``--mem`` per node, the total shared evenly. Otherwise
    Slurm places the tasks: ``--mem-per-cpu``, the total over all CPUs (rounded up: never less)."""
    r = resources
    if not r.multi_task and not r.distributed:  # the original's rule: distributed is per CPU, always
        return f"--mem={format_memory(memory_mb)}"
    if r.nodes and r.tasks_per_node and r.task_count == r.nodes * r.tasks_per_node:
        return f"--mem={format_memory(-(-memory_mb // r.nodes))}"
    return f"--mem-per-cpu={format_memory(-(-memory_mb // r.total_cpus))}"


def srun_argv(resources: Resources, *, mpi: str | None = None) -> list[str]:
    """The job's step, so sstat sees its processes; it inherits the batch allocation and
    environment. Each task runs the job's argv (a container's run: the hybrid model, the host's
    srun starting one container a task, PMI through ``--mpi``); the wrapper around srun runs once,
    so the results are collected once. ``--`` ends srun's options: a command starting with ``-``
    stays the command. srun adds a line of its own to the job's stderr when the command fails
    ("srun: error: localhost: task 0: Exited with exit code 3"); no flag silences it, and it is true."""
    argv = ["srun", *layout_argv(resources)]
    if mpi and resources.multi_task:
        argv.append(f"--mpi={mpi}")
    return [*argv, "--export=ALL", "--"]


def squeue_argv(user: str) -> list[str]:
    """Every job of ``user`` the controller still knows, finished ones included (for MinJobAge)."""
    fields = ",".join(f"{f}:{DELIMITER}" for f in SQUEUE_FIELDS[:-1]) + f",{SQUEUE_FIELDS[-1]}:"
    return ["squeue", "--noheader", "--states=all", f"--user={user}", "-O", fields]


def sstat_argv(slurm_ids: Sequence[str]) -> list[str]:
    """Every step of every given job in one call (the srun step ``ID.0`` and ``ID.batch``)."""
    return ["sstat", "--parsable2", "--noheader", "--allsteps",
            f"--format={','.join(SSTAT_FIELDS)}", "-j", ",".join(slurm_ids)]


def scancel_argv(slurm_ids: Sequence[str]) -> list[str]:
    """Any number of ids in one call; finished or purged ids are not an error (exit 0)."""
    return ["scancel", *slurm_ids]


def scancel_by_name_argv(job_name: str, user: str) -> list[str]:
    """For a job whose SLURM id was never recorded. ``--name`` takes one name, and given together
    with ids it narrows them instead of adding to them: hence one call per such job."""
    return ["scancel", f"--name={job_name}", f"--user={user}"]


def scancel_signal_argv(slurm_ids: Sequence[str], signal: str, *, full: bool) -> list[str]:
    """Send ``signal`` to the jobs' steps; with ``full``, to the batch step as well (the wrapper
    and srun). The job is signalled, not cancelled; the normal scancel follows.

    A graceful stop leaves ``--full`` out: srun, signalled in the batch step, answers SIGTERM by
    "forcing job termination" (SIGKILL to the step, seen on Slurm 22.05), so the job would never
    write its partial results. The step's own tasks get the TERM and end as they choose."""
    return ["scancel", f"--signal={signal}", *(["--full"] if full else []), *slurm_ids]


SCONTROL_ACTIONS = ("hold", "release", "suspend", "resume")
"""hold/release act on pending jobs (any user, their own); suspend/resume on running ones (operators)."""


def scontrol_argv(action: str, slurm_id: str) -> list[str]:
    if action not in SCONTROL_ACTIONS:
        raise ValueError(f"unknown scontrol action {action!r}")
    return ["scontrol", action, slurm_id]


def listpids_argv(slurm_id: str) -> list[str]:
    """The job's processes on this node (only where slurmd runs here; elsewhere it fails)."""
    return ["scontrol", "listpids", slurm_id]


def batch_host_argv(slurm_id: str) -> list[str]:
    """The node a running job's batch script runs on (where a job's ports are served, issue 26)."""
    return ["squeue", "--noheader", "--jobs", slurm_id, "--format=%B"]
