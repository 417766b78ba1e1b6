"""``lz submit DIR1 DIR2 …``: many jobs in one call (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lz.cli import main
from tests.unit.cli.test_cli import env, lz  # noqa: F401 - the fixture

__all__ = ["env"]


def folders(tmp_path: Path, count: int) -> list[str]:
    made = []
    for i in range(count):
        folder = tmp_path / f"job{i}"
        folder.mkdir()
        (folder / "lz.toml").write_text(f'command = ["sh", "-c", "echo {i}"]\n')
        made.append(str(folder))
    return made


def test_several_folders_are_several_jobs_in_the_order_given(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    paths = folders(tmp_path, 3)
    result = lz(env, "submit", *paths, "--cpus", "1")
    assert result.exit_code == 0, result.output
    ids = result.stdout.split()
    assert len(set(ids)) == 3 and "3 jobs submitted" in result.stderr
    listed = {j["id"]: j for j in json.loads(lz(env, "status", "--json").stdout)}
    assert [listed[i]["name"] for i in ids] == ["job0", "job1", "job2"]
    assert all(listed[i]["state"] == "received" for i in ids)


def test_a_refused_folder_is_said_and_the_others_still_go(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    good, bad = folders(tmp_path, 2)
    Path(bad, "lz.toml").write_text("command = 3\n")
    result = lz(env, "submit", good, bad)
    assert result.exit_code == 2
    assert len(result.stdout.split()) == 1 and f"{bad}: " in result.stderr and "1 refused" in result.stderr


def test_a_missing_path_or_wait_submits_nothing(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    (good,) = folders(tmp_path, 1)
    for args in ([good, str(tmp_path / "nope")], ["--wait", good, good], ["--max-attempts", "2", good, good]):
        result = CliRunner().invoke(main, ["submit", *args], env=env)
        assert result.exit_code == 2 and "nothing was submitted" in result.stderr, result.output
    assert json.loads(lz(env, "status", "--json").stdout) == []


def test_json_is_one_list(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    result = lz(env, "submit", "--json", *folders(tmp_path, 2))
    document = result.stdout[: result.stdout.rindex("]") + 1]
    assert [j["state"] for j in json.loads(document)] == ["received", "received"]
