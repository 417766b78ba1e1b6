"""An unconfirmed submission (sbatch's answer lost to a crash or a timeout) that nobody lists is
submitted again only if lz looked while the scheduler would still have listed it; found by the
property test (``test_rules_property``): queued, cancelled or failed while pending, aged out of
``squeue`` before the restarted daemon looked, then submitted a second time."""

from lz.core.records import Observation
from lz.core.rules import Fire, Record, TickContext, Work, decide
from lz.core.value_class import replace
from tests.unit.core.test_rules import NOW, job

CTX = TickContext(now=NOW, observed=True, submit_grace_s=30, queue_memory_s=300)


def test_first_look_after_the_queue_forgot_ends_lost_not_resubmitted() -> None:
    late = job("queued", submit_attempted_at=NOW - 301)
    [action] = decide(late, Observation("absent"), CTX)
    assert isinstance(action, Fire) and action.event == "ended" and action.facts["outcome"] == "lost"
    assert action.guard == {"executor_id": None}


def test_looked_in_time_and_found_nothing_resubmits_after_grace() -> None:
    looked = job("queued", submit_attempted_at=NOW - 400, absent_since=NOW - 390)
    assert decide(looked, Observation("absent"), CTX) == [Work("submit", "j1")]


def test_an_absence_noted_before_this_attempt_does_not_count() -> None:
    again = job("queued", submit_attempted_at=NOW - 10, absent_since=NOW - 500)
    assert decide(again, Observation("absent"), CTX) == [Record("j1", {"absent_since": NOW})]


def test_the_local_executor_remembers_forever() -> None:
    local = replace(CTX, queue_memory_s=float("inf"))
    late = job("queued", submit_attempted_at=NOW - 10_000)
    assert decide(late, Observation("absent"), local) == [Work("submit", "j1")]
