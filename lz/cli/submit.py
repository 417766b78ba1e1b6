"""``lz submit``: hand job folders to the landing zone or a hub's Station. A module of its own, and
light to import (issue 23): the command a sweep runs once per job pays for nothing the other
commands need."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lz.cli.common import common, main, settings, store
from lz.cli.complete import complete_station
from lz.cli.exit_codes import ExitCode
from lz.cli.hub_target import hub_options
from lz.cli.hub_target import target as hub_target


@main.command()
@common
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="PATH...")
@click.option("-J", "--name", "--job-name", "name", default=None,
              help="Job name (default: lz.toml's name, else the folder's).")
@click.option("-c", "--cpus", "--cpus-per-task", "cpus", default=None, help="CPUs per task.")
@click.option("--mem", "--memory", "memory", default=None, help="Memory, e.g. 4G.")
@click.option("-G", "--gpus", default=None, help="GPUs.")
@click.option("-t", "--time", "time_", default=None, help="Time limit, e.g. 1:00:00, 90 (minutes) or 1-12:00:00.")
@click.option("-p", "--partition", default=None, help="SLURM partition.")
@click.option("-n", "--ntasks", "--tasks", "tasks", default=None, help="Tasks (copies of the command under srun).")
@click.option("-N", "--nodes", default=None, help="Nodes the tasks spread over.")
@click.option("--ntasks-per-node", "--tasks-per-node", "tasks_per_node", default=None, help="Tasks on each node.")
@click.option("-a", "--array", default=None,
              help="A sweep: run the job once per index, e.g. 0-99, 1,3,5-7, 0-99:2, 0-99%10 (at most 10 at once).")
@click.option("--wait", is_flag=True, help="Wait until the job is cleaned; exit non-zero unless it succeeded.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON (after --wait: its final state).")
@click.option("--station", default=None, shell_complete=complete_station,
              help="Submit to this Station of the hub (--hub or LZ_HUB).")
@click.option("--max-attempts", type=click.IntRange(1, 100), default=None,
              help="With --station: failed attempts (a lost landing zone, a lease that ran out) the hub "
                   "allows this job before it ends lost; at most the Station's own limit.")
@click.option("--after", "after", multiple=True, metavar="JOB[:ok|:any|:failed]",
              help="Start only after JOB succeeded (:ok, the default), ended in any way (:any) or did not "
                   "succeed (:failed); if it ends otherwise this job ends failed. Repeat for several. Under "
                   "SLURM this is sbatch --dependency=afterok/afterany/afternotok.")
@click.option("--template", default=None, metavar="NAME",
              help="With --station: one of the Station's templates (lz station template list): its defaults "
                   "under lz.toml and the flags, its bounds held by the hub.")
@hub_options
def submit(paths: tuple[Path, ...], name: str | None, cpus: str | None, memory: str | None, gpus: str | None,
           time_: str | None, partition: str | None, tasks: str | None, nodes: str | None,
           tasks_per_node: str | None, array: str | None, wait: bool, as_json: bool, station: str | None,
           max_attempts: int | None, after: tuple[str, ...] = (), template: str | None = None) -> None:
    """Hand a job folder (or a .tar.gz of one) to the landing zone, or to a hub's Station; prints
    the job id last. Several folders: one job each, in one process; their ids, one a line.

    Retries and dependencies can also be written in the folder's lz.toml: ``retries = 2``,
    ``retry_on = ["node_fail", "preempted", "requeued", "timeout", "lost", "exit:75"]`` and
    ``after = ["JOB:ok"]`` (see the README's "Retries and dependencies")."""
    if len(paths) > 1:
        from lz.cli.submit_many import submit_many

        if wait:
            from lz.core.errors import UserError

            raise UserError("--wait follows one job: give one folder (nothing was submitted)")
        if tasks or nodes or tasks_per_node or array or after or template:
            from lz.core.errors import UserError

            raise UserError("--ntasks/--nodes/--ntasks-per-node/--array/--after/--template take one folder "
                            "(nothing was submitted)")
        submit_many(paths, name, {"cpus": cpus, "memory": memory, "gpus": gpus, "time": time_,
                                  "partition": partition, "max_attempts": max_attempts}, station, as_json)
        return
    path = paths[0]
    if not path.exists():  # a mistyped path is the user's mistake, not a job that failed
        from lz.core.errors import UserError

        raise UserError(f"{path}: no such file or directory (nothing was submitted)")
    if station is not None:
        from lz.cli import remote_jobs as jobs_cli

        if tasks or nodes or tasks_per_node:  # the hub's upload takes no such flags yet: never drop them silently
            from lz.core.errors import UserError

            raise UserError("--ntasks/--nodes/--ntasks-per-node are for a landing zone; through a hub, write them "
                            "in lz.toml's [resources] (nothing was submitted)")
        overrides = {"cpus": cpus, "memory": memory, "gpus": gpus, "time": time_, "partition": partition,
                     "max_attempts": max_attempts, **({"array": array} if array else {}), "after": list(after),
                     "template": template}
        jobs_cli.submit(hub_target(required=True), path, station, name, overrides, wait, as_json)  # type: ignore[arg-type]
        return
    if template is not None:
        from lz.core.errors import UserError

        raise UserError("--template is for hub jobs (--station): templates belong to a hub's Stations "
                        "(nothing was submitted)")
    if max_attempts is not None:  # a landing zone never runs a job twice: a lost job stays lost
        from lz.core.errors import UserError

        raise UserError("--max-attempts is for hub jobs (--station): a landing zone runs each job once "
                        "(nothing was submitted)")
    from lz.cli.plain import submit_here

    loaded = settings()
    submitted = submit_here(loaded, path, {"name": name, "cpus": cpus, "memory": memory, "gpus": gpus, "time": time_,
                                           "partition": partition, "tasks": tasks, "nodes": nodes,
                                           "tasks_per_node": tasks_per_node, "array": array, "after": after},
                            wait, as_json)
    if not wait:
        return
    from lz.cli.jobs import _echo_json, _explain_failure, _wait_for

    jobs = store(loaded)
    job = _wait_for(jobs, loaded, submitted.id)
    if job.outcome != "succeeded":
        _explain_failure(loaded, job)
    if as_json:
        _echo_json(job, jobs)
    click.echo(job.id)
    if job.outcome != "succeeded":
        sys.exit(ExitCode.FAILED)
