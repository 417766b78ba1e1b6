"""The Python API (``lz.client``) on a landing zone's real database, with no daemon running: what
it records, lists and refuses, each refusal a typed error; and that importing it stays light."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import lz.client
from lz.client import Client


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """The settings the CLI would read: a config file, and LZ_DB / LZ_WORKDIR in the environment."""
    import os

    for name in [n for n in os.environ if n.startswith("LZ_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "config.toml"
    config.write_text('runtime = "none"\n')
    monkeypatch.setenv("LZ_CONFIG", str(config))
    monkeypatch.setenv("LZ_DB", str(tmp_path / "state" / "lz.db"))
    monkeypatch.setenv("LZ_WORKDIR", str(tmp_path / "work"))
    yield Client()


def job_folder(base: Path, name: str, toml: str = 'command = ["true"]\n') -> Path:
    folder = base / "jobs" / name
    folder.mkdir(parents=True)
    (folder / "lz.toml").write_text(toml)
    return folder


def test_submit_lists_and_finds_jobs_of_the_local_landing_zone(client: Client, tmp_path: Path) -> None:
    assert client.hub is None and client.landing_zone_running() is False
    first = client.submit(job_folder(tmp_path, "a"), name="sweep-1", cpus=2, time="5:00")
    second = client.submit(job_folder(tmp_path, "b"), name="sweep-2")
    other = client.submit(job_folder(tmp_path, "c"))
    assert (first.state, first.outcome, first.name, first.station) == ("received", None, "sweep-1", None)
    assert first.data["resources"]["cpus"] == 2 and first.data["resources"]["time_s"] == 300
    found = client.job(first.id[:10])  # an unambiguous prefix, as on the command line
    assert found.id == first.id and [h["to"] for h in found.data["history"]] == ["received"]

    newest = client.jobs(limit=2)
    assert [j.id for j in newest] == [other.id, second.id] and newest.total == 3
    assert [j.id for j in client.jobs(all=True)] == [other.id, second.id, first.id]
    assert [j.id for j in client.jobs(name="sweep-*")] == [second.id, first.id]
    assert client.jobs(state="running") == [] and client.jobs(state="running").total == 0
    assert len(client.jobs(state=("received",))) == 3
    assert [j.id for j in client.jobs(name="SWEEP-?", state="PD")] == [second.id, first.id]  # as lz status -n -t
    with pytest.raises(lz.client.Error, match="unknown state 'bogus'"):
        client.jobs(state="bogus")


def test_cancel_and_wait_and_a_timeout(client: Client, tmp_path: Path) -> None:
    job = client.submit(job_folder(tmp_path, "a"))
    with pytest.raises(lz.client.Timeout, match="still received") as timed_out:
        job.wait(timeout=0.2, poll_s=0.05)  # no daemon: it waits for one
    assert timed_out.value.job is job
    with pytest.raises(lz.client.Refused, match="only a queued or running job can be paused"):
        job.pause()
    job.cancel()  # recorded; the daemon, when one runs, collects and cleans it
    assert (job.state, job.outcome, job.done) == ("collecting", "cancelled", False)
    assert job.refresh().data["history"][-1]["event"] == "cancel"
    with pytest.raises(lz.client.Rejected) as rejected:
        client.submit(job_folder(tmp_path, "bad", toml="name = 'x'\n"))
    ended = rejected.value.job
    assert ended is not None
    seen: list[str] = []
    assert ended.wait(timeout=5, on_change=lambda j: seen.append(j.state)) is ended and seen == ["cleaned"]
    with pytest.raises(lz.client.NotFound, match="has no stored results"):
        ended.results(tmp_path / "out")
    assert ended.logs() == "" and ended.logs("build.log") == ""


def test_refusals_are_typed_errors_with_one_line(client: Client, tmp_path: Path) -> None:
    with pytest.raises(lz.client.Rejected, match="command") as rejected:
        client.submit(job_folder(tmp_path, "bad", toml="name = 'x'\n"))
    assert rejected.value.job is not None and (rejected.value.job.state, rejected.value.job.outcome) == (
        "cleaned", "failed")
    with pytest.raises(lz.client.Error, match="no such file"):
        client.submit(tmp_path / "missing")
    assert client.jobs().total == 1  # the rejection's record; the missing path made none
    with pytest.raises(lz.client.NotFound, match="no job 'nope'"):
        client.job("nope")
    with pytest.raises(lz.client.Error, match="station= is for a hub"):
        client.submit(job_folder(tmp_path, "a"), station="lab")
    with pytest.raises(lz.client.Error, match="max_attempts= is for hub jobs"):
        client.submit(job_folder(tmp_path, "b"), max_attempts=2)
    job = client.jobs()[0]
    with pytest.raises(lz.client.Error, match="unknown log"):
        job.logs("../etc/passwd")
    with pytest.raises(lz.client.Error, match="unknown request"):
        job.control("explode")
    with pytest.raises(lz.client.Error, match="must start with http"):
        Client(hub="ftp://hub")
    with pytest.raises(lz.client.Error, match="token= is for a hub"):
        Client(token=tmp_path / "token")
    assert all(issubclass(e, lz.client.Error) for e in (lz.client.NotFound, lz.client.Refused, lz.client.Rejected,
                                                        lz.client.Timeout, lz.client.Unavailable))


def test_a_database_that_cannot_be_used_is_unavailable(client: Client, tmp_path: Path) -> None:
    job = client.submit(job_folder(tmp_path, "a"))
    (tmp_path / "state" / "lz.db").unlink()
    (tmp_path / "state" / "lz.db").mkdir()  # the file is gone, something else is in its place
    with pytest.raises(lz.client.Unavailable, match="^database: "):
        Client().job(job.id)


def test_what_the_api_writes_is_private_and_the_callers_umask_stays(client: Client, tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        job = client.submit(job_folder(tmp_path, "a", toml='command = ["true"]\n'))
        assert os.umask(0o022) == 0o022  # unchanged by the call
    finally:
        os.umask(old)
    assert (tmp_path / "state" / "spool" / job.id / "lz.toml").exists()
    for private in (tmp_path / "state", tmp_path / "state" / "lz.db", tmp_path / "state" / "spool"):
        assert stat.S_IMODE(private.stat().st_mode) & 0o077 == 0, private
