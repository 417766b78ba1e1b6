"""Retries and dependencies: the policy, the causes, and the tick's decisions (pure)."""

import json

import pytest

from lz.core.dependencies import Dependency, find_cycle, holds, parse_all, sbatch_dependency
from lz.core.errors import BundleError
from lz.core.job import JobSpec
from lz.core.machine import Lifecycle
from lz.core.records import Observation
from lz.core.retry import RetryPolicy, cause_of, delay_s, earns_retry, parse_policy
from lz.core.rules import Cancel, Fire, Prerequisite, Record, Work, decide, prerequisite
from lz.core.value_class import replace
from lz.slurm.options import with_options
from tests.unit.core.test_rules import CTX, NOW, job

TWICE = RetryPolicy(2, ("node_fail", "preempted", "requeued", "lost", "exit:75"))


def retrying(state: str, policy: RetryPolicy = TWICE, **facts: object):  # type: ignore[no-untyped-def]
    base = job(state, **facts)
    return replace(base, spec=replace(base.spec, retry=policy))


# -- the policy -------------------------------------------------------------------------------------
def test_policy_from_lz_toml_values_and_the_zone_default() -> None:
    zone = RetryPolicy(1, ("lost",))
    assert parse_policy(None, None, zone) == zone
    assert parse_policy(3, None, zone) == RetryPolicy(3, ("lost",))
    assert parse_policy(0, ["exit:3", "timeout", "exit:3"], zone) == RetryPolicy(0, ("exit:3", "timeout"))
    for bad_count in (-1, 101, True, "2"):
        with pytest.raises(BundleError, match="retries"):
            parse_policy(bad_count, None, zone)
    for bad_cause in (["oom"], ["exit:0"], ["exit:256"], ["exit:x"], "node_fail, nope", [1]):
        with pytest.raises(BundleError, match="retry_on"):
            parse_policy(1, bad_cause, zone)


def test_causes_from_the_schedulers_word_and_the_exit_status() -> None:
    assert cause_of("failed", "NODE_FAIL", None) == "node_fail"
    assert cause_of("failed", "BOOT_FAIL", None) == "node_fail"
    assert cause_of("failed", "PREEMPTED", None) == "preempted"
    assert cause_of("timed_out", "TIMEOUT", None) == "timeout"
    assert cause_of("lost", None, None) == "lost"
    assert cause_of("failed", "FAILED", 75) == "exit:75"
    assert cause_of("succeeded", "COMPLETED", 0) is None
    assert cause_of("cancelled", "CANCELLED", 0) is None


def test_a_retry_is_earned_by_a_listed_cause_while_attempts_remain() -> None:
    assert earns_retry(TWICE, 1, "node_fail") and earns_retry(TWICE, 2, "exit:75")
    assert not earns_retry(TWICE, 3, "node_fail")  # 1 + 2 retries: the third was the last
    assert not earns_retry(TWICE, 1, "timeout") and not earns_retry(TWICE, 1, "exit:1")
    assert not earns_retry(TWICE, 1, None)
    assert earns_retry(RetryPolicy(1, ("exit:any",)), 1, "exit:9")
    assert not earns_retry(RetryPolicy(0), 1, "node_fail")


def test_back_off_doubles_up_to_its_cap() -> None:
    assert [delay_s(n, 10, 60) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


# -- the tick's decisions ------------------------------------------------------------------------
def test_a_node_failure_queues_the_job_again_as_attempt_two_with_its_record() -> None:
    running = retrying("running", executor_id="7", started_at=NOW - 50)
    [fire] = decide(running, Observation("ended", "7", "NODE_FAIL", exit_code=None), CTX)
    assert isinstance(fire, Fire) and fire.event == "retry" and fire.guard == {"attempt": 1}
    assert fire.facts["attempt"] == 2 and fire.facts["executor_id"] is None
    assert fire.facts["submit_attempted_at"] is None and fire.facts["retry_at"] == NOW + CTX.retry_backoff_s
    [record] = json.loads(fire.facts["attempts"])
    assert record["attempt"] == 1 and record["cause"] == "node_fail" and record["executor_id"] == "7"
    assert record["reason"] == "node failure"
    assert Lifecycle().next_state("running", "retry") == "queued"


def test_the_next_attempt_waits_for_its_back_off_then_is_submitted() -> None:
    waiting = retrying("queued", attempt=2, retry_at=NOW + 5)
    assert decide(waiting, None, CTX) == []
    assert decide(replace(waiting, retry_at=NOW - 1), None, CTX) == [Work("submit", "j1")]


def test_a_preemption_is_retried_and_a_success_says_which_attempt() -> None:
    [fire] = decide(retrying("running", executor_id="7"), Observation("ended", "7", "PREEMPTED"), CTX)
    assert fire.event == "retry"  # type: ignore[union-attr]
    history = json.dumps([{"attempt": 1, "cause": "preempted", "reason": "preempted"}])
    second = retrying("running", executor_id="8", attempt=2, attempts=history, started_at=NOW)
    [end] = decide(second, Observation("ended", "8", "COMPLETED", exit_code=0), CTX)
    assert isinstance(end, Fire) and end.event == "ended" and end.facts["outcome"] == "succeeded"
    assert end.facts["reason"] == "exit code 0 (attempt 2 of 3; earlier: #1 preempted)"


def test_the_last_attempt_ends_the_job_and_says_why_none_did() -> None:
    history = json.dumps([{"attempt": 1, "reason": "node failure"}, {"attempt": 2, "reason": "exit code 75"}])
    last = retrying("running", executor_id="9", attempt=3, attempts=history)
    [end] = decide(last, Observation("ended", "9", "FAILED", exit_code=75), CTX)
    assert isinstance(end, Fire) and end.event == "ended" and end.facts["outcome"] == "failed"
    assert end.facts["reason"] == "exit code 75 (attempt 3 of 3; earlier: #1 node failure; #2 exit code 75)"


def test_retries_zero_fails_once_and_a_cause_not_listed_is_final() -> None:
    [end] = decide(job("running", executor_id="7"), Observation("ended", "7", "NODE_FAIL"), CTX)
    assert end.event == "ended" and end.facts["reason"] == "node failure"  # type: ignore[union-attr]
    [end] = decide(retrying("running", executor_id="7"), Observation("ended", "7", "FAILED", exit_code=1), CTX)
    assert end.event == "ended" and end.facts["reason"] == "exit code 1 (attempt 1 of 3)"  # type: ignore[union-attr]


def test_a_scheduler_requeue_is_cancelled_there_and_retried_as_a_new_attempt() -> None:
    seen = Observation("pending", "7", "PENDING", reason="BeginTime")
    cancel, fire = decide(retrying("running", executor_id="7"), seen, CTX)
    assert cancel == Cancel("j1") and isinstance(fire, Fire) and fire.event == "retry"
    assert json.loads(fire.facts["attempts"])[0]["cause"] == "requeued"


def test_a_lost_job_is_retried_when_lost_is_listed() -> None:
    gone = retrying("running", executor_id="7", absent_since=NOW - 200)
    [fire] = decide(gone, Observation("absent", "7"), CTX)
    assert isinstance(fire, Fire) and fire.event == "retry"


def test_a_cancel_is_never_retried() -> None:
    cancelling = retrying("cancelling", executor_id="7")
    [end] = decide(cancelling, Observation("ended", "7", "CANCELLED"), CTX)
    assert isinstance(end, Fire) and end.event == "ended" and end.facts["outcome"] == "cancelled"


# -- dependencies -----------------------------------------------------------------------------------
def test_dependency_words_and_conditions() -> None:
    assert parse_all(["a1", "b2:any", "c3:failed", "a1"]) == (
        Dependency("a1"), Dependency("b2", "any"), Dependency("c3", "failed"))
    for bad in ("", "a1:maybe", "a b", "../x"):
        with pytest.raises(BundleError):
            parse_all([bad])
    assert holds("ok", None) is None and holds("ok", "succeeded") and holds("ok", "failed") is False
    assert holds("failed", "timed_out") and holds("failed", "succeeded") is False
    assert holds("any", "cancelled")


def test_sbatch_dependency_argv() -> None:
    pairs = [(Dependency("a", "ok"), "11"), (Dependency("b", "ok"), "12"), (Dependency("c", "any"), "13"),
             (Dependency("d", "failed"), "14")]
    assert sbatch_dependency(pairs) == "--dependency=afterok:11:12,afterany:13,afternotok:14"
    assert sbatch_dependency([]) is None
    argv = ["sbatch", "--parsable", "--job-name=x", "wrapper.sh", "meta", "srun"]
    assert with_options(argv, ["--dependency=afterok:11"]) == [
        "sbatch", "--parsable", "--dependency=afterok:11", "--job-name=x", "wrapper.sh", "meta", "srun"]


def test_cycles_are_found() -> None:
    graph = {"a": [Dependency("b")], "b": [Dependency("c")], "c": []}
    assert find_cycle("new", [Dependency("a")], lambda j: graph[j]) is None
    graph["c"] = [Dependency("new")]
    assert find_cycle("new", [Dependency("a")], lambda j: graph[j]) == ["new", "a", "b", "c", "new"]


def dependent(after: tuple[Dependency, ...], **facts: object):  # type: ignore[no-untyped-def]
    base = job("queued", **facts)
    return replace(base, spec=replace(base.spec, after=after))


def test_a_dependent_waits_then_goes_then_is_ended_by_a_failed_prerequisite() -> None:
    after = (Dependency("p1"), Dependency("p2", "any"))
    waiting = replace(CTX, prerequisites={"p1": Prerequisite(None), "p2": Prerequisite("failed")})
    assert decide(dependent(after), None, waiting) == [
        Record("j1", {"pending_reason": "waiting for job p1 to succeed"})]
    assert decide(dependent(after, pending_reason="waiting for job p1 to succeed"), None, waiting) == []
    free = replace(CTX, prerequisites={"p1": Prerequisite("succeeded"), "p2": Prerequisite("failed")})
    assert decide(dependent(after), None, free) == [Work("submit", "j1")]
    failed = replace(CTX, prerequisites={"p1": Prerequisite("failed"), "p2": Prerequisite(None)})
    [end] = decide(dependent(after), None, failed)
    assert isinstance(end, Fire) and end.event == "ended" and end.facts["outcome"] == "failed"
    assert end.facts["reason"] == "dependency p1 failed" and end.guard == {"executor_id": None,
                                                                           "submit_attempted_at": None}


def test_under_slurm_a_dependent_is_submitted_once_its_prerequisite_has_a_final_id() -> None:
    after = (Dependency("p1"),)
    native = replace(CTX, native_dependencies=True, prerequisites={"p1": Prerequisite(None, "41")})
    assert decide(dependent(after), None, native) == [Work("submit", "j1")]
    no_id = replace(native, prerequisites={"p1": Prerequisite(None, None)})
    assert decide(dependent(after), None, no_id) == [Record("j1", {"pending_reason": "waiting for job p1 to succeed"})]
    # submitted with --dependency, then the prerequisite failed: SLURM would hold it for ever
    ended = replace(native, prerequisites={"p1": Prerequisite("failed")})
    cancel, end = decide(dependent(after, executor_id="42"), Observation("pending", "42", "PENDING",
                                                                          reason="DependencyNeverSatisfied"), ended)
    assert cancel == Cancel("j1") and isinstance(end, Fire) and end.facts["reason"] == "dependency p1 failed"


def test_a_prerequisite_that_may_be_retried_offers_no_slurm_id() -> None:
    prereq = replace(retrying("running", executor_id="41"), executor="slurm")
    assert prerequisite(prereq) == Prerequisite(None, None)
    assert prerequisite(replace(prereq, attempt=3)) == Prerequisite(None, "41")
    assert prerequisite(replace(job("cleaned", outcome="failed"))) == Prerequisite("failed", None)


def test_a_spec_keeps_its_policy_and_dependencies() -> None:
    spec = JobSpec(name="x", command=("true",), retry=TWICE, after=(Dependency("a", "any"),))
    assert JobSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert "retry" not in JobSpec(name="x").to_dict() and "after" not in JobSpec(name="x").to_dict()
