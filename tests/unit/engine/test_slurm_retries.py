"""Retries and dependencies at the SLURM boundary: what squeue says of a requeued, preempted or
failed-node job becomes a retry; attempts are told apart by name; --dependency is in the argv."""

from __future__ import annotations

import json
from pathlib import Path

from lz.core.dependencies import Dependency
from lz.core.job import JobSpec
from lz.core.layout import JobPaths
from lz.core.records import JobContext, Tracked
from lz.core.retry import RetryPolicy
from lz.core.rules import Cancel, Fire, decide
from lz.core.value_class import replace
from tests.unit.core.test_rules import CTX, job
from tests.unit.engine.test_slurm_executor import DATA, Script, done, executor

RETRY = RetryPolicy(1)


def queue() -> Script:
    return Script({"squeue": [done((DATA / "squeue-retries.txt").read_text())]})


def tracked(tmp_path: Path, job_id: str, slurm_id: str | None, attempt: int = 1) -> Tracked:
    paths = JobPaths(tmp_path / f"lz-{job_id}")
    paths.meta.mkdir(parents=True, exist_ok=True)
    return Tracked(job_id, slurm_id, paths, attempt=attempt)


def running(job_id: str, slurm_id: str):  # type: ignore[no-untyped-def]
    base = job("running", id=job_id, executor_id=slurm_id)
    return replace(base, spec=replace(base.spec, retry=RETRY))


def test_a_recorded_preemption_node_failure_and_requeue_each_become_a_retry(tmp_path: Path) -> None:
    seen = executor(queue()).observe([tracked(tmp_path, "p1", "302"), tracked(tmp_path, "n1", "303"),
                                      tracked(tmp_path, "r1", "301")])
    assert (seen["p1"].phase, seen["p1"].native_state) == ("ended", "PREEMPTED")
    [preempted] = decide(running("p1", "302"), seen["p1"], CTX)
    [node] = decide(running("n1", "303"), seen["n1"], CTX)
    cancel, requeued = decide(running("r1", "301"), seen["r1"], CTX)
    assert cancel == Cancel("r1")
    causes = []
    for fire in (preempted, node, requeued):
        assert isinstance(fire, Fire) and fire.event == "retry" and fire.facts["attempt"] == 2
        causes.append(json.loads(fire.facts["attempts"])[0]["cause"])
    assert causes == ["preempted", "node_fail", "requeued"]


def test_an_older_attempts_slurm_job_never_passes_for_the_current_one(tmp_path: Path) -> None:
    """Attempt 2 of f1, its id not yet recorded (adoption by name), sees lz-f1.a2, not lz-f1."""
    seen = executor(queue()).observe([tracked(tmp_path, "f1", None, attempt=2)])
    assert (seen["f1"].phase, seen["f1"].executor_id) == ("running", "305")
    first = executor(queue()).observe([tracked(tmp_path, "f1", None, attempt=1)])
    assert (first["f1"].phase, first["f1"].executor_id) == ("ended", "304")


def test_a_later_attempt_is_named_for_it_and_a_dependency_is_an_sbatch_option(tmp_path: Path) -> None:
    script = Script({"sbatch": [done("77\n")], "scancel": [done()]})
    spec = JobSpec(name="x", command=("true",))
    ctx = JobContext("abc", spec, JobPaths(tmp_path / "lz-abc"), attempt=3,
                     after=((Dependency("p", "ok"), "41"), (Dependency("q", "failed"), "42")))
    assert executor(script).submit(ctx, ["true"]) == "77"
    argv = script.calls[0]
    assert argv[:4] == ["sbatch", "--parsable", "--dependency=afterok:41,afternotok:42", "--job-name=lz-abc.a3"]
    executor(script).cancel([Tracked("abc", None, ctx.paths, attempt=3)])
    assert script.calls[1] == ["scancel", "--name=lz-abc.a3", "--user=alice"]
