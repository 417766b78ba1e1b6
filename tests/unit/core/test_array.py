"""Sweeps: the ``--array`` spelling, squeue's task ids, the tasks' summary (lz.core.array)."""

from __future__ import annotations

import pytest

from lz.core.array import TaskView, compact, outcome_reason, parse_array, split_task_id, summary, summary_line
from lz.core.errors import ResourceError


@pytest.mark.parametrize(("text", "indices", "throttle", "canonical"), [
    ("0-9", tuple(range(10)), None, "0-9"),
    ("0-99%10", tuple(range(100)), 10, "0-99%10"),
    ("1,3,5-7", (1, 3, 5, 6, 7), None, "1,3,5-7"),
    ("0-9:2", (0, 2, 4, 6, 8), None, "0,2,4,6,8"),
    ("7", (7,), None, "7"),
    (" 3-4,1 %2", (1, 3, 4), 2, "1,3-4%2"),
    ("5,5,4-6", (4, 5, 6), None, "4-6"),
])
def test_parse_array(text, indices, throttle, canonical):
    spec = parse_array(text)
    assert spec.indices == indices
    assert spec.throttle == throttle
    assert str(spec) == canonical


@pytest.mark.parametrize(("text", "says"), [
    ("", "give indices"),
    ("a-b", "is not an index"),
    ("9-1", "must go up"),
    ("0-9:0", "must go up"),
    ("0-9%0", "throttle"),
    ("0-9%x", "throttle"),
    ("0-10000", "past this landing zone's largest, 9999"),
    ("-1", "is not an index"),
    ("1,,2", "is not an index"),
])
def test_bad_arrays_are_one_line(text, says):
    with pytest.raises(ResourceError) as err:
        parse_array(text)
    assert says in str(err.value)
    assert "\n" not in str(err.value)


def test_the_maximum_comes_from_settings():
    assert parse_array("0-99", max_tasks=100).count == 100
    with pytest.raises(ResourceError, match="largest, 99"):
        parse_array("0-100", max_tasks=100)


def test_compact():
    assert compact([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert compact([]) == ""


@pytest.mark.parametrize(("slurm_id", "split"), [
    ("123_7", ("123", (7,))),
    ("123_[8-11%10]", ("123", (8, 9, 10, 11))),
    ("38_[2-7,9%2]", ("38", (2, 3, 4, 5, 6, 7, 9))),
    ("123_[1,3-4]", ("123", (1, 3, 4))),
    ("123", None),
    ("123+0", None),
])
def test_split_task_id(slurm_id, split):
    assert split_task_id(slurm_id) == split


def test_summary_and_outcome():
    views = [TaskView(0, "succeeded", 0), TaskView(1, "failed", 3), TaskView(2, "cancelled", None, "CANCELLED"),
             TaskView(3, "succeeded", 0)]
    counts = summary(views)
    assert counts == {"pending": 0, "running": 0, "succeeded": 2, "failed": 1, "cancelled": 1}
    assert summary_line(counts) == "4 tasks: 2 succeeded, 1 failed, 1 cancelled"
    assert outcome_reason(views) == (3, "2 of 4 tasks did not succeed (task 1: exit code 3)")
    assert outcome_reason(views[::3]) == (0, "all 2 tasks succeeded")
    assert outcome_reason([TaskView(4, "cancelled", None, "CANCELLED")]) == (
        1, "1 of 1 tasks did not succeed (task 4: cancelled)")
