"""SLURM output parsers on output captured from the real Slurm 22.05, and odd output."""

from __future__ import annotations

import pytest

from lz.slurm.parse import (
    ENDED_STATES,
    PENDING_STATES,
    RUNNING_STATES,
    ParseError,
    base_state,
    duration_s,
    exit_code_of,
    is_unreachable,
    parse_sbatch,
    parse_squeue,
    parse_sstat,
    phase_of,
    size_bytes,
)
from tests.paths import ROOT

DATA = ROOT / "tests" / "data" / "slurm"


def read(name: str) -> str:
    return (DATA / name).read_text()


# -- squeue ----------------------------------------------------------------------------------------
def test_squeue_captured_states() -> None:
    entries = parse_squeue(read("squeue-ended.txt"))
    by_name = {e.name: e for e in entries}  # the newest of namesakes wins here, as in observe
    assert by_name["lzcap-ok"].state == "COMPLETED" and by_name["lzcap-ok"].exit_code == 0
    assert by_name["lzcap-failed"].exit_code == 3 and by_name["lzcap-failed"].reason == "NonZeroExitCode"
    assert (by_name["lzcap-timeout"].state, by_name["lzcap-timeout"].exit_code) == ("TIMEOUT", 143)
    assert by_name["lzcap-cancel-running"].exit_code == 143
    assert by_name["lzcap-cancel-pending"].reason == "Priority"  # a pending job keeps its last reason
    assert 'lzcap-odd name|with "quotes" $(x)\nand a newline' in by_name
    assert {phase_of(e.state) for e in entries} == {"ended"}
    assert all(e.slurm_id.isdigit() for e in entries)


def test_squeue_captured_pending_and_running() -> None:
    by_name = {e.name: e for e in parse_squeue(read("squeue-mixed.txt"))}
    assert (by_name["lz-pending01"].state, by_name["lz-pending01"].reason) == ("PENDING", "Resources")
    assert (by_name["lz-holder01"].state, by_name["lz-holder01"].reason) == ("RUNNING", None)
    assert by_name["lz-b3dc7e6a2e"].exit_code == 1  # raw 256
    assert {phase_of(e.state) for e in by_name.values()} == {"pending", "running", "ended"}


def test_squeue_names_with_the_delimiter_or_a_newline() -> None:
    [entry] = parse_squeue("3|COMPLETED|None|0|weird|name x\n")
    assert entry.name == "weird|name x"
    first, second = parse_squeue("1|RUNNING|None|0|a\nb\n\n2|PENDING|Priority|0|lz-x\n")
    assert first.name == "a\nb\n" and second.name == "lz-x" and second.reason == "Priority"


def test_squeue_array_and_het_ids() -> None:
    ids = [e.slurm_id for e in parse_squeue("5_[1-9]|PENDING|None|0|a\n5_0|RUNNING|None|0|a\n6+1|RUNNING|None|0|b\n")]
    assert ids == ["5_[1-9]", "5_0", "6+1"]


@pytest.mark.parametrize("text", ["", "\n", "\n\n"])
def test_squeue_empty(text: str) -> None:
    assert parse_squeue(text) == []


@pytest.mark.parametrize("text", [
    "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",  # error on stdout
    "42|RUNN",  # truncated
    "42|RUNNING|None\n",  # too few fields
    "JOBID|STATE|REASON|EXIT_CODE|NAME\n",  # a header
])
def test_squeue_refuses_what_is_not_its_output(text: str) -> None:
    with pytest.raises(ParseError):
        parse_squeue(text)


# -- states ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("state,phase", [
    ("PENDING", "pending"), ("CONFIGURING", "pending"), ("POWER_UP_NODE", "pending"), ("REQUEUED", "pending"),
    ("REQUEUE_FED", "pending"), ("REQUEUE_HOLD", "pending"), ("RESV_DEL_HOLD", "pending"),
    ("SPECIAL_EXIT", "pending"),
    ("RUNNING", "running"), ("COMPLETING", "running"), ("SUSPENDED", "running"), ("STOPPED", "running"),
    ("SIGNALING", "running"), ("STAGE_OUT", "running"), ("RESIZING", "running"), ("UPDATE_DB", "running"),
    ("COMPLETED", "ended"), ("FAILED", "ended"), ("CANCELLED", "ended"), ("CANCELLED by 0", "ended"),
    ("CANCELLED+", "ended"), ("cancelled", "ended"), ("TIMEOUT", "ended"), ("NODE_FAIL", "ended"),
    ("PREEMPTED", "ended"), ("OUT_OF_MEMORY", "ended"), ("BOOT_FAIL", "ended"), ("DEADLINE", "ended"),
    ("REVOKED", "ended"),
    ("SOMETHING_NEW", "running"),
])
def test_every_state_has_a_phase(state: str, phase: str) -> None:
    assert phase_of(state) == phase


def test_state_tables_do_not_overlap() -> None:
    assert not (PENDING_STATES & RUNNING_STATES or PENDING_STATES & ENDED_STATES or RUNNING_STATES & ENDED_STATES)
    assert base_state("CANCELLED by 1000") == "CANCELLED" and base_state("") == ""


# -- exit codes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,code", [
    ("0", 0), ("256", 1), ("768", 3), ("65280", 255), ("15", 143), ("9", 137), ("137", 137),  # raw wait status
    ("3:0", 3), ("0:15", 143), ("0:9", 137), ("1:15", 1), ("0:0", 0),  # scontrol code:signal
    ("", None), ("N/A", None), ("(null)", None), ("x", None), ("a:b", None),
])
def test_exit_codes(text: str, code: int | None) -> None:
    assert exit_code_of(text) == code


# -- sbatch ------------------------------------------------------------------------------------------
def test_sbatch() -> None:
    assert parse_sbatch("4242\n") == "4242" and parse_sbatch("17;cluster\n") == "17"
    assert parse_sbatch(read("sbatch-bad-qos.stdout")).isdigit()  # accepted here: no accounting database
    assert parse_sbatch("sbatch: warning: can't honor --ntasks-per-node\n18\n") == "18"
    for text in ("", "sbatch: error: something\n", "Submitted batch job 5\n", "12;"[:1] + "x"):
        with pytest.raises(ParseError):
            parse_sbatch(text)


# -- sstat -------------------------------------------------------------------------------------------
def test_sstat_captured_takes_the_step_with_the_most() -> None:
    [(slurm_id, usage)] = parse_sstat(read("sstat-steps.txt")).items()
    lines = read("sstat-steps.txt").splitlines()
    assert slurm_id == lines[0].split(".")[0]
    assert usage.max_rss_bytes == max(size_bytes(line.split("|")[1]) or 0 for line in lines)
    assert usage.cpu_seconds == 0


def test_sstat_odd_output() -> None:
    assert parse_sstat("") == {}
    assert parse_sstat(read("sstat-mixed.stderr")) == {}  # error text, had it gone to stdout
    assert set(parse_sstat(read("sstat-mixed.txt"))) == set(parse_sstat(read("sstat-steps.txt")))
    got = parse_sstat("1.0|2G|1-00:00:01|2\n1.batch|10M|00:01.500|1\n2.0|12|\n3.0|x|y|z\n4.0|10K")
    assert got["1"].cpu_seconds == 2 * 86401 and got["1"].max_rss_bytes == 2 * 1024**3
    assert got["2"].max_rss_bytes == 12 and got["2"].cpu_seconds is None
    assert got["3"].max_rss_bytes is None and got["3"].cpu_seconds is None
    assert "4" not in got  # truncated before the CPU field


@pytest.mark.parametrize("text,seconds", [
    ("00:00:00", 0), ("00:01.234", 1.234), ("01:02", 62), ("02:03:04", 7384), ("1-02:03:04", 93784),
    ("2-00:00:00", 172800), ("1-02", 93600), ("5", 5), ("", None), ("x", None), ("1:2:3:4", None), ("a-01:00", None),
])
def test_durations(text: str, seconds: float | None) -> None:
    assert duration_s(text) == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize("text,size", [("1234K", 1234 * 1024), ("0", 0), ("1.5M", 1572864), ("2G", 2 * 1024**3),
                                       ("", None), ("12Q", None)])
def test_sizes(text: str, size: int | None) -> None:
    assert size_bytes(text) == size


# -- errors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["squeue-controller-down.stderr", "sbatch-controller-down.stderr"])
def test_unreachable_on_captured_messages(name: str) -> None:
    assert is_unreachable(read(name))


@pytest.mark.parametrize("name", ["sbatch-bad-partition", "sbatch-too-much-memory", "sbatch-bad-gres",
                                  "sbatch-bad-feature", "sbatch-bad-time"])
def test_refusals_on_captured_messages(name: str) -> None:
    assert not is_unreachable(read(f"{name}.stderr"))


@pytest.mark.parametrize("message,unreachable", [
    ("sbatch: error: Batch job submission failed: Socket timed out on send/recv operation", True),
    ("slurm_load_jobs error: Zero Bytes were transmitted or received", True),
    ("sbatch: error: Batch job submission failed: Resource temporarily unavailable", True),
    ("sbatch: error: Batch job submission failed: Invalid qos specification", False),
    ("sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified",
     False),
    ("sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's "
     "size and/or time limits)", False),
    ("slurm_load_jobs error: Invalid job id specified", False),
    ("", False),
])
def test_error_classification(message: str, unreachable: bool) -> None:
    assert is_unreachable(message) is unreachable


def test_sstat_garbage_is_unknown_not_a_figure() -> None:
    """22.05's sstat can print 2**64-1 bytes or a CPU time of centuries for a step that has just
    started: such a figure is not reported (the hub refuses it, and it once stalled a job's reports)."""
    got = parse_sstat("5.0|16777216T|213503982334-00:00:00|1\n6.batch|18446744073709551615|00:01.000|1\n"
                      "7.0|1M|100000000-00:00:00|4\n")
    assert got["5"].max_rss_bytes is None and got["5"].cpu_seconds is None
    assert got["6"].max_rss_bytes is None and got["6"].cpu_seconds == 1
    assert got["7"].max_rss_bytes == 1024**2 and got["7"].cpu_seconds is None
