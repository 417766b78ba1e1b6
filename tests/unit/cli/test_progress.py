"""What ``lz submit --wait`` shows: every state in order (even one shorter than a poll), the
build log's last line while building, the collection's figures at the end."""

from __future__ import annotations

import io
from pathlib import Path

from lz.cli import progress
from lz.core.records import Transition
from lz.core.value_class import replace
from tests.unit.fakes import job_snapshot as _job


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.statuses: list[str] = []
        self.closed = False

    def changed(self, job, transition) -> None:  # type: ignore[no-untyped-def]
        self.lines.append(progress.state_line(job, transition))

    def status(self, text: str) -> None:
        self.statuses.append(text)

    def close(self) -> None:
        self.closed = True


def test_follow_shows_each_state_and_the_build_logs_last_line(tmp_path: Path) -> None:
    build_log = tmp_path / "build.log"
    build_log.write_text("$ ch-image build\nStep 1/3 : FROM busybox\n\n")
    t = [Transition("", "received", "receive", 0, None), Transition("received", "building", "build", 1, None),
         Transition("building", "queued", "built", 2, None), Transition("queued", "collecting", "ended", 3, "exit 0"),
         Transition("collecting", "cleaned", "clean", 4, "added 2, modified 1, deleted 0, bytes_archived 2500")]
    polls = [(replace(_job(), state="building"), t[:2]),
             (replace(_job(), state="cleaned", outcome="succeeded", reason="exit code 0"), t)]
    out = Recorder()
    job = progress.follow(lambda: polls[0][0], lambda: polls[0][1], lambda j: build_log, out,
                          sleep=lambda s: polls.pop(0))
    assert job.state == "cleaned" and out.closed
    assert out.lines == ["job abc123 received", "job abc123 building", "job abc123 queued", "job abc123 collecting",
                         "job abc123 cleaned (succeeded: exit code 0); results: 3 files, 2.5 kB"]
    assert out.statuses == ["building abc123: Step 1/3 : FROM busybox"]


def test_off_a_terminal_only_the_outcome() -> None:
    stream = io.StringIO()
    view = progress.view(stream)
    assert isinstance(view, progress.Quiet)
    view.changed(replace(_job(), state="building"), None)
    view.status("building")
    view.changed(replace(_job(), state="cleaned", outcome="failed", reason="exit code 3"), None)
    assert stream.getvalue() == "lz: job abc123 cleaned (failed: exit code 3)\n"


def test_last_line_reads_only_the_end_and_drops_control_characters(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"x" * 100_000 + b"\nfinal \x1b[31mred\n\n")
    assert progress.last_line(log) == "final ?[31mred"
    assert progress.last_line(tmp_path / "missing") == ""
