"""The tick's decisions, one situation at a time (pure: no processes, no database)."""

from lz.core.job import Job, JobSpec
from lz.core.records import Observation
from lz.core.resources import Resources
from lz.core.rules import Cancel, Fire, Record, StopWork, TickContext, Work, decide, outcome_of
from lz.core.value_class import replace

NOW = 1_000_000.0


def job(state: str, **facts: object) -> Job:
    base = Job(
        id="j1", name="demo", state=state, outcome=None, reason=None, exit_code=None, source="cli",
        spec=JobSpec(name="demo", command=("true",), resources=Resources(time_s=60)), work_dir="/w/lz-j1",
        created_at=NOW - 100, updated_at=NOW - 100, started_at=None, ended_at=None, executor="slurm",
        executor_id=None, submit_attempted_at=None, native_state=None, pending_reason=None, absent_since=None,
        cpu_seconds=None, max_rss_bytes=None, results_at=None,
    )
    return replace(base, **facts)


CTX = TickContext(now=NOW, observed=True)


def test_received_and_interrupted_builds_are_built() -> None:
    assert decide(job("received"), None, CTX) == [Work("build", "j1")]
    assert decide(job("building"), None, CTX) == [Work("build", "j1")]


def test_a_job_with_a_worker_is_left_alone_unless_cancelled() -> None:
    assert decide(job("building"), None, replace(CTX, busy=frozenset({"j1"}))) == []
    assert decide(job("cancelling"), None, replace(CTX, busy=frozenset({"j1"}))) == [StopWork("j1")]


def test_queued_without_submission_is_submitted() -> None:
    assert decide(job("queued"), None, CTX) == [Work("submit", "j1")]


def test_unconfirmed_submission_is_adopted_when_the_scheduler_knows_it() -> None:
    queued = job("queued", submit_attempted_at=NOW - 5)
    actions = decide(queued, Observation("pending", "4242", "PENDING", reason="Priority"), CTX)
    assert actions == [Record("j1", {"executor_id": "4242", "native_state": "PENDING", "pending_reason": "Priority"})]


def test_unconfirmed_submission_waits_then_resubmits_only_after_grace() -> None:
    queued = job("queued", submit_attempted_at=NOW - 5)
    assert decide(queued, Observation("absent"), CTX) == [Record("j1", {"absent_since": NOW})]
    assert decide(replace(queued, absent_since=NOW - 1), Observation("absent"), CTX) == []
    late = job("queued", submit_attempted_at=NOW - 31)
    assert decide(late, Observation("absent"), CTX) == [Work("submit", "j1")]


def test_nothing_moves_without_a_fresh_observation() -> None:
    blind = replace(CTX, observed=False)
    for state in ("queued", "running", "cancelling"):
        assert decide(job(state, executor_id="1"), None, blind) == []


def test_running_then_ended_with_exit_code() -> None:
    queued = job("queued", executor_id="7")
    [fire] = decide(queued, Observation("running", "7", "RUNNING"), CTX)
    assert isinstance(fire, Fire) and fire.event == "started" and fire.facts["started_at"] == NOW
    running = job("running", executor_id="7", started_at=NOW - 10)
    [end] = decide(running, Observation("ended", "7", "FAILED", exit_code=3), CTX)
    assert isinstance(end, Fire) and end.event == "ended"
    assert end.facts["outcome"] == "failed" and end.facts["exit_code"] == 3 and end.facts["reason"] == "exit code 3"


def test_short_job_can_end_while_still_queued() -> None:
    [end] = decide(job("queued", executor_id="7"), Observation("ended", "7", "COMPLETED", exit_code=0), CTX)
    assert isinstance(end, Fire) and end.expect == "queued" and end.facts["outcome"] == "succeeded"


def test_a_scheduler_requeue_ends_the_attempt_without_retries() -> None:
    """A job the scheduler put back in its queue is cancelled there: with no retries it ends."""
    cancel, end = decide(job("running", executor_id="7"), Observation("pending", "7", "PENDING", reason="BeginTime"), CTX)
    assert cancel == Cancel("j1")
    assert isinstance(end, Fire) and end.event == "ended" and end.facts["outcome"] == "failed"
    assert end.facts["reason"] == "requeued by the scheduler (BeginTime)"


def test_vanished_job_is_lost_only_after_the_grace_period() -> None:
    running = job("running", executor_id="7")
    assert decide(running, Observation("absent"), CTX) == [Record("j1", {"absent_since": NOW})]
    still = job("running", executor_id="7", absent_since=NOW - 10)
    assert decide(still, Observation("absent"), CTX) == []
    gone = job("running", executor_id="7", absent_since=NOW - 121)
    [fire] = decide(gone, Observation("absent"), CTX)
    assert isinstance(fire, Fire) and fire.facts["outcome"] == "lost"


def test_cancelling_asks_the_executor_until_the_job_ends() -> None:
    cancelling = job("cancelling", executor_id="7")
    assert decide(cancelling, Observation("running", "7", "RUNNING"), CTX)[0] == Cancel("j1")
    [fire] = decide(cancelling, Observation("ended", "7", "CANCELLED"), CTX)
    assert isinstance(fire, Fire) and fire.facts["outcome"] == "cancelled" and fire.facts["reason"] == "cancelled by user"


def test_cancelling_a_never_submitted_job_ends_at_once() -> None:
    [fire] = decide(job("cancelling"), None, replace(CTX, observed=False))
    assert isinstance(fire, Fire) and fire.event == "ended" and fire.facts["outcome"] == "cancelled"


def test_collecting_is_collected() -> None:
    assert decide(job("collecting"), None, CTX) == [Work("collect", "j1")]
    assert decide(job("cleaned"), None, CTX) == []


def test_outcomes_from_scheduler_states() -> None:
    running = job("running", executor_id="7")
    cases = {
        ("TIMEOUT", None): ("timed_out", "time limit 00:01:00 reached"),
        ("OUT_OF_MEMORY", 137): ("failed", "out of memory"),
        ("CANCELLED by 0", None): ("cancelled", "cancelled outside lz (scancel by a user or an administrator)"),
        ("NODE_FAIL", None): ("failed", "node failure"),
        ("COMPLETED", 0): ("succeeded", "exit code 0"),
        ("EXITED", 0): ("succeeded", "exit code 0"),
        ("FAILED", None): ("failed", "ended without an exit status (FAILED)"),
    }
    for (native, code), (outcome, reason) in cases.items():
        got = outcome_of(Observation("ended", "7", native, exit_code=code), running)
        assert (got[0].value, got[1]) == (outcome, reason), native
