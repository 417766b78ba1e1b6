"""What ``apptainer run --fakeroot`` needs (issue 24, item 12): without a subordinate id range
every pilot of the original batch recipe died at once ("no mapping entry found in /etc/subuid").
``lz doctor`` and ``lz pilots submit --image`` check it against the files (paths injected here)
and say how to fix it."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import lz.host.subids as subids
from lz.cli import main
from lz.host.subids import fakeroot_ready
from lz.ops.doctor import fakeroot

FIX = "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice"


def _files(tmp_path: Path, subuid: str | None, subgid: str | None) -> tuple[Path, Path]:
    uid, gid = tmp_path / "subuid", tmp_path / "subgid"
    for path, text in ((uid, subuid), (gid, subgid)):
        if text is not None:
            path.write_text(text)
    return uid, gid


def test_an_account_with_both_ranges_is_ready(tmp_path: Path) -> None:
    uid, gid = _files(tmp_path, "bob:100000:65536\nalice:165536:65536\n", "alice:165536:65536\n")
    assert fakeroot_ready("alice", 1000, subuid=uid, subgid=gid).ok
    (tmp_path / "n").mkdir()
    by_number = _files(tmp_path / "n", "1000:100000:65536\n", "1000:100000:65536\n")
    assert fakeroot_ready("alice", 1000, subuid=by_number[0], subgid=by_number[1]).ok


@pytest.mark.parametrize(("subuid", "subgid", "said"), [
    (None, None, "no subordinate user ids for alice"),  # no /etc/subuid at all (this test machine)
    ("bob:100000:65536\n", "alice:100000:65536\n", "no subordinate user ids for alice"),
    ("alice:100000:65536\n", "", "no subordinate group ids for alice"),
    ("!alice:100000:65536\n", "alice:100000:65536\n", "no subordinate user ids"),  # disabled by apptainer config
    ("alice:100000:1000\n", "alice:100000:65536\n", "fewer than 65536"),
    ("alice:x:y\n", "alice:100000:65536\n", "no subordinate user ids"),
])
def test_a_missing_or_short_range_says_how_to_fix_it(tmp_path: Path, subuid: str | None, subgid: str | None,
                                                     said: str) -> None:
    uid, gid = _files(tmp_path, subuid, subgid)
    found = fakeroot_ready("alice", 1000, subuid=uid, subgid=gid)
    assert not found.ok and said in found.detail
    assert found.fix.endswith(FIX)


@pytest.mark.skipif(shutil.which("apptainer") is None and shutil.which("singularity") is None,
                    reason="the check is skipped without apptainer")
def test_doctor_warns_with_the_fix(tmp_path: Path) -> None:
    user = pwd.getpwuid(os.getuid()).pw_name
    check = fakeroot(*_files(tmp_path, None, None))
    assert check.verdict == "warn" and f"--add-subgids 100000-165535 {user}" in check.line()
    ready = fakeroot(*_files(tmp_path, f"{user}:100000:65536\n", f"{os.getuid()}:100000:65536\n"))
    assert ready.verdict == "ok"


def _submit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, subuid: str | None, *extra: str):  # type: ignore[no-untyped-def]
    uid, gid = _files(tmp_path, subuid, subuid)
    monkeypatch.setattr(subids, "SUBUID", uid)
    monkeypatch.setattr(subids, "SUBGID", gid)
    token = tmp_path / "token"
    token.write_text("t\n")
    token.chmod(0o600)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text("#!/bin/sh\necho submitted >> \"$(dirname \"$0\")/calls\"\necho 77\n")
    (bin_dir / "sbatch").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    result = CliRunner().invoke(main, ["pilots", "submit", "--count", "2", "--image", str(tmp_path / "p.sif"),
                                       "--hub", "https://hub:8750", "--token", str(token), *extra], env=env)
    return result, (bin_dir / "calls").exists()


def test_pilots_submit_with_an_image_refuses_without_subordinate_ids(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    result, submitted = _submit(tmp_path, monkeypatch, None)
    assert result.exit_code == 2 and not submitted
    assert result.stderr.startswith("lz: error: --image runs apptainer --fakeroot: no subordinate user ids")
    assert "usermod --add-subuids 100000-165535" in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_dry_run_warns_and_prints_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, submitted = _submit(tmp_path, monkeypatch, None, "--dry-run")
    assert result.exit_code == 0 and not submitted
    assert result.stderr.startswith("lz: warning: --image runs apptainer --fakeroot")
    assert "apptainer run --fakeroot" in result.stdout


def test_pilots_submit_with_an_image_goes_on_with_a_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = pwd.getpwuid(os.getuid()).pw_name
    result, submitted = _submit(tmp_path, monkeypatch, f"{user}:100000:65536\n")
    assert result.exit_code == 0 and submitted, result.output
    assert result.stdout.strip() == "77"
