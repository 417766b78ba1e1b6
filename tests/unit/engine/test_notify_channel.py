"""The job's notification channel on a real FIFO: made and removed around the run, read without
ever blocking, a flood bounded, and the ``lz-notify`` helpers (Python and sh) writing to it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lz.cli import notify_send
from lz.core.notifications import CHANNEL_DIR, HELPER_NAME, Limits
from lz.core.value_class import replace
from lz.engine import notify_channel
from lz.engine.notify_channel import NotificationReader
from tests.unit.fakes import job_snapshot


def _reader(work: Path, saved: list, limits: Limits | None = None) -> NotificationReader:  # type: ignore[type-arg]
    return NotificationReader(saved.append, lambda ids: {}, lambda job: work, limits or Limits())


def test_a_channel_is_read_without_blocking_and_closed_after_a_last_read(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    assert notify_channel.open_channel(work)
    env = notify_channel.environment(str(work))
    saved: list[dict] = []  # type: ignore[type-arg]
    reader = _reader(work, saved)
    job = replace(job_snapshot("j1"), work_dir=str(tmp_path))
    assert reader.poll([job], 1.0) == 0  # nothing written: no wait
    assert notify_send.send(["epoch", "1"], env) is None
    subprocess.run(["sh", str(work / CHANNEL_DIR / HELPER_NAME), "multi\nline"], env={**os.environ, **env}, check=True)
    with open(env["LZ_NOTIFY"], "w") as channel:  # echo text > $LZ_NOTIFY
        channel.write("plain echo\npartial")
    assert reader.poll([job], 2.0) == 3
    assert saved[-1] == {"j1": [(2.0, "epoch 1"), (2.0, "multi line"), (2.0, "plain echo")]}
    assert reader.poll([], 3.0) == 1  # the job is no longer active: its last line, then closed
    assert saved[-1] == {"j1": [(3.0, "partial")]} and reader._open == {}
    notify_channel.close_channel(work)
    assert not (work / CHANNEL_DIR).exists()


def test_a_flood_costs_a_bounded_read_and_is_rate_limited(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    notify_channel.open_channel(work)
    saved: list[dict] = []  # type: ignore[type-arg]
    reader = _reader(work, saved, Limits(per_minute=3))
    job = replace(job_snapshot("j1"), work_dir=str(tmp_path))
    reader.poll([job], 0.0)
    fd = os.open(work / CHANNEL_DIR / "notify", os.O_WRONLY | os.O_NONBLOCK)
    written = 0
    try:
        while True:
            written += os.write(fd, b"spam\n" * 1000)
    except BlockingIOError:
        pass  # the pipe is full: the writer would wait, never the engine
    assert notify_send.send(["one", "more"], {"LZ_NOTIFY": str(work / CHANNEL_DIR / "notify")}) == \
        "the channel is full (too many notifications); this one was dropped"
    os.close(fd)
    assert reader.poll([job], 1.0) == 3
    assert notify_send.send(["after", "a", "while"], {"LZ_NOTIFY": str(work / CHANNEL_DIR / "notify")}) is None
    reader.poll([job], 30.0)
    note, text = (t for _, t in saved[-1]["j1"])
    assert note.startswith("[lz: ") and "messages dropped: at most 3 a minute" in note and text.endswith("after a while")
    assert notify_send.send(["x"], {"LZ_NOTIFY": str(work / CHANNEL_DIR / "notify")}) is None
    notify_send.send(["y"], {"LZ_NOTIFY": str(work / CHANNEL_DIR / "notify")})
    notify_send.send(["z"], {"LZ_NOTIFY": str(work / CHANNEL_DIR / "notify")})
    reader.poll([], 62.0)  # the job ended: what was dropped since is said at once
    assert [t for _, t in saved[-1]["j1"]] == ["x", "y", "[lz: 1 messages dropped: at most 3 a minute]"]
    reader.close()


def test_no_reader_and_no_channel_are_refused_at_once(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    notify_channel.open_channel(work)
    path = str(work / CHANNEL_DIR / "notify")
    assert "not reading" in (notify_send.send(["hi"], {"LZ_NOTIFY": path}) or "")
    assert "not set" in (notify_send.send(["hi"], {}) or "")
    assert notify_send.line_of(["x" * 9000]) == b"x" * 4095 + b"\n"


def test_a_job_with_its_own_folder_of_that_name_keeps_it_and_gets_no_channel(tmp_path: Path) -> None:
    (tmp_path / CHANNEL_DIR).mkdir()
    (tmp_path / CHANNEL_DIR / "mine.txt").write_text("x")
    assert not notify_channel.open_channel(tmp_path)
    notify_channel.close_channel(tmp_path)
    assert (tmp_path / CHANNEL_DIR / "mine.txt").exists()


def test_a_job_without_a_channel_is_looked_for_once(tmp_path: Path) -> None:
    looked: list[Path] = []
    reader = NotificationReader(lambda m: None, lambda ids: {}, lambda job: looked.append(tmp_path) or tmp_path)
    job = replace(job_snapshot("old"), work_dir=str(tmp_path))
    reader.poll([job], 1.0)
    reader.poll([job], 2.0)
    assert len(looked) == 1 and reader._absent == {"old"}
    reader.poll([], 3.0)
    assert reader._absent == set()
