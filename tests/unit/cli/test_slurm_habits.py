"""Issue 24, "Slurm habits": `lz status` filters like squeue (-t with squeue's short forms, -n
patterns, --since, --outcome, -N/--all, --format with squeue's letters) and `lz cancel` takes
several ids or filters, as scancel does; against a real SQLite store filled through the store API."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lz.cli import main
from lz.core.job import JobSpec
from lz.core.resources import Resources
from lz.executors.local import _start_time
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade

NOW = time.time()
HOUR = 3600.0


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"LZ_DB": str(tmp_path / "state" / "lz.db"), "LZ_WORKDIR": str(tmp_path / "work"),
            "LZ_CONTAINER": "none", "LZ_CONFIG": "", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "c")}


def lz(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def fill(env: dict[str, str]) -> dict[str, str]:
    """Jobs by name: train-1 (running, 5 h old), train-2 (queued, 3 h), eval (ended failed, 2 h),
    prep (received, 30 min), Train-3 (paused, 10 min); each with a time limit of 1 hour."""
    engine = make_engine(Path(env["LZ_DB"]))
    upgrade(engine)
    clock = Clock()
    store = JobStore(engine, clock=clock)
    ids = {}
    plan = [("train-1", 5 * HOUR, ["build", "built", "started"]), ("train-2", 3 * HOUR, ["build", "built"]),
            ("eval", 2 * HOUR, ["build", "build_failed", "clean"]), ("prep", HOUR / 2, []),
            ("Train-3", HOUR / 6, ["build", "built", "started", "pause"])]
    for name, age, events in plan:
        clock.now = NOW - age
        job = store.create(JobSpec(name=name, command=("true",), resources=Resources(cpus=2, time_s=3600)))
        for event in events:
            facts = {"started_at": clock.now} if event == "started" else {}
            facts.update({"outcome": "failed", "ended_at": clock.now} if event == "build_failed" else {})
            store.fire(job.id, event, **facts)
        ids[name] = job.id
    return ids


def names(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [j["name"] for j in json.loads(result.stdout)]


def test_states_take_lz_words_and_squeues_short_forms(env: dict[str, str]) -> None:
    fill(env)
    assert names(lz(env, "status", "-t", "R", "--json")) == ["train-1"]
    assert names(lz(env, "status", "-t", "PD", "--json")) == ["train-2", "prep"]
    assert names(lz(env, "status", "-t", "r,s", "--json")) == ["train-1", "Train-3"]
    assert names(lz(env, "status", "--state", "queued", "-t", "cleaned", "--json")) == ["train-2", "eval"]
    assert names(lz(env, "status", "-t", "active", "--json")) == ["train-1", "train-2", "prep", "Train-3"]
    assert names(lz(env, "status", "--outcome", "F", "--json")) == ["eval"]
    assert names(lz(env, "status", "--outcome", "succeeded", "--json")) == []


def test_an_unknown_state_or_outcome_is_one_line_and_exit_2(env: dict[str, str]) -> None:
    fill(env)
    for args, said in ((["-t", "RUNNIN"], "unknown state 'RUNNIN'"), (["-t", "CD"], "'CD' is an outcome in lz"),
                       (["--outcome", "meh"], "unknown outcome 'meh'"), (["--since", "yesterdayish"], "--since"),
                       (["--format", "%i %Q"], "unknown field %Q"), (["--station", "s"], "--station is for a hub")):
        bad = lz(env, "status", *args)
        assert bad.exit_code == 2 and bad.stdout == "", args
        assert bad.stderr.count("\n") == 1 and said in bad.stderr, (args, bad.stderr)


def test_name_patterns_since_and_limit(env: dict[str, str]) -> None:
    fill(env)
    assert names(lz(env, "status", "-n", "train-*", "--json")) == ["train-1", "train-2", "Train-3"]
    assert names(lz(env, "status", "--name", "train-?", "-t", "R,PD", "--json")) == ["train-1", "train-2"]
    assert names(lz(env, "status", "-n", "ev*", "-n", "prep", "--json")) == ["eval", "prep"]
    assert names(lz(env, "status", "-n", "%", "--json")) == []  # SQL's wildcard is a plain character
    assert names(lz(env, "status", "--since", "2h30m", "--json")) == ["eval", "prep", "Train-3"]
    assert names(lz(env, "status", "--since", "1h", "--json")) == ["prep", "Train-3"]
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(NOW - 4 * HOUR))
    assert names(lz(env, "status", "--since", since, "--json")) == ["train-2", "eval", "prep", "Train-3"]
    assert names(lz(env, "status", "-N", "2", "--json")) == ["prep", "Train-3"]  # the newest two
    assert names(lz(env, "status", "-N", "2", "--all", "--json")) == ["train-1", "train-2", "eval", "prep", "Train-3"]
    table = lz(env, "status", "-N", "2")
    assert "(the newest 2 of 5 matching jobs; -N N or --all for more)" in table.stdout


def test_format_takes_squeues_letters(env: dict[str, str]) -> None:
    ids = fill(env)
    shown = lz(env, "status", "-t", "R,S,PD", "--format", "%i %j %t %T %l %C")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["JOBID", "NAME", "ST", "STATE", "TIME_LIMIT", "CPUS"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[ids["train-1"]] == [ids["train-1"], "train-1", "R", "running", "1:00:00", "2"]
    assert rows[ids["Train-3"]][2:4] == ["S", "paused"] and rows[ids["prep"]][2:4] == ["PD", "received"]
    used = lz(env, "status", "-t", "R", "-o", "%.12M|%j", "--noheader").stdout.rstrip("\n")
    assert re.fullmatch(r" {5}5:0[0-9]:[0-5][0-9]\|train-1", used), used  # right-aligned in 12 columns
    ended = lz(env, "status", "-t", "cleaned", "-o", "%t %O %%").stdout.splitlines()
    assert ended == ["ST OUTCOME %", "F  failed  %"]


def test_the_plain_view_is_unchanged_without_filters(env: dict[str, str]) -> None:
    fill(env)
    table = lz(env, "status").stdout
    assert "received 1  building 0  queued 1  running 1  paused 1" in table and "train-1" in table
    assert len(json.loads(lz(env, "status", "--json").stdout)) == 5


def test_cancel_takes_several_ids_and_goes_on_past_an_unknown_one(env: dict[str, str]) -> None:
    ids = fill(env)
    done = lz(env, "cancel", ids["prep"], "nosuchjob", ids["train-2"])
    assert done.exit_code == 2
    assert done.stdout.splitlines() == [f"job {ids['prep']} collecting", f"job {ids['train-2']} cancelling"]
    assert done.stderr.strip() == "lz: error: no job 'nosuchjob' in this landing zone"


def test_cancel_by_name_and_state_as_scancel_does(env: dict[str, str]) -> None:
    ids = fill(env)
    done = lz(env, "cancel", "-n", "train-*", "-t", "R,S")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [f"job {ids['train-1']} cancelling", f"job {ids['Train-3']} cancelling"]
    assert names(lz(env, "status", "-t", "cancelling", "--json")) == ["train-1", "Train-3"]
    nothing = lz(env, "cancel", "--name", "nomatch*")
    assert nothing.exit_code == 0 and nothing.stdout == "" and "no active job matches" in nothing.stderr
    ended = lz(env, "cancel", "-n", "eval")  # cleaned jobs are never candidates
    assert ended.exit_code == 0 and ended.stdout == ""


def test_cancel_mistakes_are_one_line(env: dict[str, str]) -> None:
    ids = fill(env)
    for args, said in (([], "name the jobs to cancel"), ([ids["prep"], "-n", "x"], "not both"),
                       (["-t", "cleaned"], "nothing to cancel"), (["-t", "bogus"], "unknown state 'bogus'"),
                       (["--zone", "z1", "-n", "x"], "--zone is for a hub")):
        bad = lz(env, "cancel", *args)
        assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and said in bad.stderr, (args, bad.stderr)
    assert names(lz(env, "status", "-t", "collecting,cancelling", "--json")) == []  # nothing was cancelled


def test_format_prints_a_hostile_name_escaped(env: dict[str, str]) -> None:
    """A job name is the submitter's text: --format never lets it move the cursor or clear a screen."""
    engine = make_engine(Path(env["LZ_DB"]))
    upgrade(engine)
    JobStore(engine).create(JobSpec(name="evil\x1b[2J\nline", command=("true",)))
    shown = lz(env, "status", "-n", "evil*", "-o", "%j", "--noheader")
    assert shown.exit_code == 0 and shown.stdout == "evil\\x1b[2J\\nline\n"


def test_stop_and_kill_take_ids_and_filters_as_cancel_does(env: dict[str, str]) -> None:
    """One shape for the five (lz.cli.job_actions): several ids, an unknown one among them is its
    line on stderr and exit status 2 (the others are acted on), a pattern picks the active jobs."""
    ids = fill(env)
    done = lz(env, "stop", ids["prep"], "nosuchjob", ids["train-2"])
    assert done.exit_code == 2
    assert done.stdout.splitlines() == [f"job {ids['prep']} collecting (stop requested)",
                                        f"job {ids['train-2']} cancelling (stop requested)"]
    assert done.stderr.strip() == "lz: error: no job 'nosuchjob' in this landing zone"
    killed = lz(env, "kill", "--name", "TRAIN-?", "-t", "R,S")
    assert killed.exit_code == 0, killed.output
    assert killed.stdout.splitlines() == [f"job {ids['train-1']} cancelling (kill requested)",
                                          f"job {ids['Train-3']} cancelling (kill requested)"]
    assert names(lz(env, "status", "-t", "active", "--json")) == ["train-1", "train-2", "prep", "Train-3"]
    nothing = lz(env, "stop", "-n", "eval")  # cleaned jobs are never candidates
    assert nothing.exit_code == 0 and nothing.stdout == "" and "no active job matches" in nothing.stderr


def test_pause_and_resume_take_ids_and_filters_each_refusal_one_line(env: dict[str, str]) -> None:
    """Filters pick the jobs each verb applies to (pause: queued or running; resume: paused); a
    job that refuses (never submitted, no process here) is one line each, exit status 2."""
    ids = fill(env)
    paused = lz(env, "pause", "-n", "*")
    assert paused.exit_code == 2 and paused.stdout == ""
    assert paused.stderr.splitlines() == [f"lz: error: job {ids[n]} is not submitted yet: pause it once it is queued"
                                          for n in ("train-1", "train-2")]
    resumed = lz(env, "resume", ids["train-1"], "nosuchjob")
    assert resumed.exit_code == 2 and resumed.stderr.splitlines() == [
        f"lz: error: job {ids['train-1']} is running, not paused: nothing to resume",
        "lz: error: no job 'nosuchjob' in this landing zone"]
    for args, said in ((["pause"], "name the jobs to pause"), (["resume", "-t", "R"], "resume takes paused jobs"),
                       (["pause", ids["prep"], "-n", "x"], "not both"), (["kill", "--zone", "z1"], "--zone is for a hub")):
        bad = lz(env, *args)
        assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and said in bad.stderr, (args, bad.stderr)


def test_the_table_and_the_details_print_a_hostile_name_escaped(env: dict[str, str]) -> None:
    """Plain `lz status` (the table) and `lz status JOB` escape what a submitter chose (a newline,
    a tab, an escape sequence, a bell: lz.core.tables); --json keeps the name as it is."""
    engine = make_engine(Path(env["LZ_DB"]))
    upgrade(engine)
    hostile = "evil\x1b[2J\nline\tx\x07"
    job = JobStore(engine).create(JobSpec(name=hostile, command=("true",)))
    shown = "evil\\x1b[2J\\nline\\tx\\x07"
    table = lz(env, "status")
    assert table.exit_code == 0, table.output
    assert not any(c in table.stdout for c in "\x1b\x07\t"), table.stdout
    header, row = table.stdout.splitlines()[-2:]
    assert header.split() == ["ID", "NAME", "STATE", "OUTCOME", "AGE", "RUNTIME", "SLURM", "USAGE"]
    assert row.split()[:3] == [job.id, shown, "received"] and header.index("STATE") == row.index("received")
    details = lz(env, "status", job.id)
    assert not any(c in details.stdout for c in "\x1b\x07\t") and details.stdout.startswith(f"job {job.id} ({shown})\n")
    assert json.loads(lz(env, "status", "--json").stdout)[0]["name"] == hostile


def test_pause_and_resume_by_pattern_and_ids_signal_real_processes(env: dict[str, str]) -> None:
    """Two running jobs of the local executor, each a real process group: `lz pause -n` stops
    both, `lz resume ID nosuchjob ID` continues both, says the unknown one and exits 2."""
    engine = make_engine(Path(env["LZ_DB"]))
    upgrade(engine)
    store = JobStore(engine)
    sleepers = [subprocess.Popen(["sleep", "60"], start_new_session=True) for _ in range(2)]
    try:
        ids = []
        for i, proc in enumerate(sleepers):
            job = store.create(JobSpec(name=f"sleeper-{i}", command=("sleep", "60")))
            for event in ("build", "built", "started"):
                store.fire(job.id, event, **({"started_at": time.time()} if event == "started" else {}))
            store.record(job.id, executor="local", executor_id=f"{proc.pid}:{_start_time(proc.pid)}")
            ids.append(job.id)
        paused = lz(env, "pause", "-n", "SLEEPER-*")
        assert paused.exit_code == 0, paused.output
        assert paused.stdout.splitlines() == [f"job {i} paused" for i in ids]
        assert [_process_state(p.pid) for p in sleepers] == ["T", "T"]
        resumed = lz(env, "resume", ids[0], "nosuchjob", ids[1])
        assert resumed.exit_code == 2 and resumed.stdout.splitlines() == [f"job {i} running" for i in ids]
        assert resumed.stderr.strip() == "lz: error: no job 'nosuchjob' in this landing zone"
        assert [_process_state(p.pid) for p in sleepers] == ["S", "S"]
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()


def _process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
