"""`lz doctor` checks the runtime the landing zone will use (issue 24, item 2): on a machine with
Apptainer but no base image, a zone run with `--container none` must not fail the doctor."""

import shutil
from pathlib import Path

import pytest

from lz.config import Settings
from lz.ops.doctor import _runtime


def _settings(tmp_path: Path, runtime: str) -> Settings:
    return Settings(db=tmp_path / "state" / "lz.db", workdir=tmp_path / "work", runtime=runtime)


def test_runtime_none_needs_no_image(tmp_path: Path) -> None:
    assert _runtime(_settings(tmp_path, "none")).verdict == "ok"


def test_the_runtime_the_daemon_used_is_the_one_checked(tmp_path: Path) -> None:
    assert _runtime(_settings(tmp_path, "auto"), recorded="none").verdict == "ok"


@pytest.mark.skipif(shutil.which("apptainer") is None, reason="needs apptainer on PATH")
def test_a_guessed_runtime_without_images_warns_and_a_named_one_fails(tmp_path: Path) -> None:
    guessed = _runtime(_settings(tmp_path, "auto"))
    assert guessed.verdict == "warn" and "--container none" in guessed.line()
    named = _runtime(_settings(tmp_path, "apptainer"))
    assert named.verdict == "fail" and "no base image" in named.detail
