"""The spool copy is on disk before the job is committed (issue 8, suspected c): every file and
directory of the copy is fsynced before it is renamed into place, and the spool directory after,
so a node crash cannot leave a committed job with empty files. Seen with strace, from outside."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wordcount"
_CALL = re.compile(r"(\w+)\((.*)\)\s+= (-?\d+)")


def _calls(trace: str) -> list[tuple[str, str, str]]:
    """(name, arguments, result) in order of completion; calls split by another thread's
    (``<unfinished ...>`` then ``<... fsync resumed>``) are joined."""
    pending: dict[str, str] = {}
    calls = []
    for line in trace.splitlines():
        pid, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        if rest.startswith("<..."):
            rest = pending.pop(pid, "") + rest.split("resumed>", 1)[1]
        if match := _CALL.fullmatch(rest):
            calls.append((match[1], match[2], match[3]))
    return calls


def test_every_file_and_directory_of_the_spool_copy_is_fsynced_before_the_rename(tmp_path: Path) -> None:
    job = tmp_path / "job"
    shutil.copytree(EXAMPLE, job)
    (job / "data" / "deeper").mkdir(parents=True)
    (job / "data" / "deeper" / "x.txt").write_text("x\n")
    spool = tmp_path / "spool"
    spool.mkdir()
    trace = tmp_path / "trace.txt"
    code = ("import sys; from pathlib import Path; from lz.intake.bundle import stage_bundle; "
            "stage_bundle(Path(sys.argv[1]), Path(sys.argv[2]))")
    subprocess.run(["strace", "-f", "-qq", "-y", "-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2",
                    "-o", str(trace), sys.executable, "-c", code, str(job), str(spool / "job1")], check=True)
    synced: set[str] = set()
    renamed_at = None
    calls = _calls(trace.read_text())
    for i, (name, args, result) in enumerate(calls):
        if name in ("fsync", "fdatasync") and result == "0":
            synced.add(args[args.index("<") + 1: args.rindex(">")])
        if name.startswith("rename") and str(spool / "job1") in args:
            renamed_at = i
            tmp = re.search(r'"([^"]*\.tmp-job1-[^"]*)"', args)
            assert tmp, args
            staged = {str(p).replace(str(spool / "job1"), tmp.group(1), 1) for p in _tree(job, spool / "job1")}
            assert staged - synced == set(), "not fsynced before the rename"
            break
    assert renamed_at is not None, "no rename into the spool"
    after = {a[a.index("<") + 1: a.rindex(">")] for n, a, r in calls[renamed_at:] if n == "fsync" and r == "0"}
    assert str(spool) in after, "the spool directory is not fsynced after the rename"


def _tree(job: Path, dest: Path) -> list[Path]:
    """The copy's files and directories (symlinks need no fsync of their own: their directory's covers them)."""
    found = [dest]
    for path in job.rglob("*"):
        if not path.is_symlink():
            found.append(dest / path.relative_to(job))
    return found
