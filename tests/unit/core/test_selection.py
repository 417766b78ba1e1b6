"""The words of `lz status -t/--outcome/--since/-n` and the squeue-like `--format` (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lz.core import job_format
from lz.core.errors import UserError
from lz.core.selection import compact_state, like_pattern, parse_outcomes, parse_since, parse_states

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("words", "states"), [
    (["R"], ("running",)),
    (["pd"], ("received", "building", "queued")),
    (["CG,S", "running"], ("running", "paused", "cancelling", "collecting")),
    (["PENDING", "Completing", "suspended"], ("received", "building", "queued", "paused", "cancelling",
                                              "collecting")),
    (["active"], ("received", "building", "queued", "running", "paused", "cancelling", "collecting")),
    (["ALL"], ("received", "building", "queued", "running", "paused", "cancelling", "collecting", "cleaned")),
    ([" cleaned , ,"], ("cleaned",)),
])
def test_state_words(words: list[str], states: tuple[str, ...]) -> None:
    assert parse_states(words) == states


@pytest.mark.parametrize(("words", "said"), [
    (["RUN"], "unknown state 'RUN'"), (["F"], "'F' is an outcome in lz"), (["failed"], "use --outcome failed"),
    (["x\x1b[2J"], r"unknown state 'x\\x1b[2J'"), ([",".join(["R"] * 40)], "too many states"),
])
def test_bad_state_words_are_one_line(words: list[str], said: str) -> None:
    with pytest.raises(UserError, match=None) as raised:
        parse_states(words)
    assert said in str(raised.value) and "\n" not in str(raised.value)


def test_outcome_words() -> None:
    assert parse_outcomes(["CD,f", "TO", "nf", "cancelled"]) == ("succeeded", "failed", "cancelled", "timed_out",
                                                                "lost")
    with pytest.raises(UserError, match="unknown outcome 'R'"):
        parse_outcomes(["R"])


@pytest.mark.parametrize(("text", "back"), [("90s", 90), ("15m", 900), ("2h", 7200), ("3d", 3 * 86400),
                                           ("1w", 7 * 86400), ("1h30m", 5400), ("1D2H", 93600)])
def test_since_durations(text: str, back: float) -> None:
    assert parse_since(text, NOW) == NOW - back


def test_since_times() -> None:
    assert parse_since("2026-12-06T09:30Z", NOW) == NOW - 2.5 * 3600
    assert parse_since("2026-12-06T10:30+01:00", NOW) == NOW - 2.5 * 3600
    assert parse_since("2026-12-01", NOW) == datetime(2026, 12, 1).timestamp()  # local midnight, as sacct
    today = datetime.fromtimestamp(NOW).replace(hour=9, minute=30, second=0, microsecond=0)
    assert parse_since("09:30", NOW) == parse_since("9:30", NOW) == today.timestamp()
    assert parse_since("999999w", NOW) == NOW - 100 * 365 * 86400  # capped, never an overflow


@pytest.mark.parametrize("text", ["", "2", "yesterday", "2h 30m", "25:00", "2026-13-01", "x" * 100])
def test_bad_since_is_one_line(text: str) -> None:
    with pytest.raises(UserError, match="--since") as raised:
        parse_since(text, NOW)
    assert "\n" not in str(raised.value)


def test_name_patterns_keep_sql_wildcards_literal() -> None:
    assert like_pattern("train-*") == "train-%"
    assert like_pattern("a?b") == "a_b"
    assert like_pattern("100%_done\\") == "100\\%\\_done\\\\"


def test_compact_states() -> None:
    assert [compact_state(s, None) for s in ("received", "queued", "running", "paused", "collecting")] == \
        ["PD", "PD", "R", "S", "CG"]
    assert [compact_state("cleaned", o) for o in ("succeeded", "failed", "cancelled", "timed_out", "lost")] == \
        ["CD", "F", "CA", "TO", "NF"]


def test_format_fields_widths_and_missing_values() -> None:
    job = {"id": "abc", "name": "n", "state": "running", "outcome": None, "runtime_s": 93784.0,
           "resources": {"time_s": 3600, "cpus": 4, "memory_mb": 8192, "gpus": 1, "partition": None},
           "created_at": "2026-12-06T10:00:00Z", "command": ["sh", "run.sh"]}
    assert job_format.render("%i|%.6C|%3j|%M|%l|%m|%b|%P|%o|%%", [job], header=False) == \
        "abc|     4|n  |1-02:03:04|1:00:00|8G|1|N/A|sh run.sh|%"
    assert job_format.slurm_duration(59) == "0:59" and job_format.slurm_duration(3600) == "1:00:00"
    assert job_format.render("%L", [{**job, "runtime_s": 600.0}], header=True) == "TIME_LEFT\n50:00"
    for bad in ("%Q", "%", "%.5", "x" * 500):
        with pytest.raises(UserError, match="--format"):
            job_format.parse(bad)
