"""``lz usage`` and ``lz station credits`` (issue 26): the pure pieces (days, CSV and tables),
the local form's sums per day (pure), and the local form through the CLI on a real store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lz.cli import main
from lz.cli.usage_cmd import credits_text, since_day, usage_csv, usage_text
from lz.core.errors import UserError
from lz.core.job import JobSpec
from lz.core.resources import Resources
from lz.core.usage_sums import per_day
from lz.core.value_class import replace
from tests.unit.core.test_rules import job

ROW = {"day": "2026-12-05", "station": "s", "user": "ann", "landing_zone": "gw", "cpu_hours": 1.5,
       "memory_gib_hours": 0.25, "gpu_hours": 0.0, "credits": "2.500", "credits_mc": 2500}


def test_since_is_a_day_or_a_number_of_days_before_today() -> None:
    today = dt.date(2026, 12, 6)
    assert since_day("2026-11-30", today) == "2026-11-30"
    assert since_day("7d", today) == "2026-11-29"
    for bad in ("2026-13-01", "last week", "7", "-1d"):
        with pytest.raises(UserError):
            since_day(bad, today)


def test_csv_and_table_show_the_groups_asked_for() -> None:
    assert usage_csv([ROW], ("day", "station", "user", "landing_zone")).splitlines() == [
        "day,station,user,landing_zone,cpu_hours,memory_gib_hours,gpu_hours,credits",
        "2026-12-05,s,ann,gw,1.5,0.25,0.0,2.500"]
    assert usage_csv([ROW], ("station",)).splitlines()[1] == "s,1.5,0.25,0.0,2.500"
    table = usage_text([ROW], ("user",)).splitlines()
    assert table[0].split() == ["USER", "CPU", "HOURS", "GIB", "HOURS", "GPU", "HOURS", "CREDITS"]
    assert table[1].split() == ["ann", "1.5", "0.25", "0.0", "2.500"]
    assert usage_text([], ("day",)) == "no usage recorded"


def test_credits_text_lists_the_rules() -> None:
    got = {"station": "s", "spent": "3.000", "spent_by_you": "1.000", "rules": [
        {"scope": "station", "name": None, "cpu_hour": "1.000", "memory_gib_hour": None, "gpu_hour": None,
         "limit": "100.000"},
        {"scope": "user", "name": "ann", "cpu_hour": None, "memory_gib_hour": None, "gpu_hour": "4.000",
         "limit": None}]}
    lines = credits_text(got).splitlines()
    assert lines[0] == "station s: spent 3.000 credits (1.000 by you)"
    assert lines[2].split() == ["station", "1.000", "-", "-", "100.000"]
    assert lines[3].split() == ["user", "ann", "-", "-", "4.000", "-"]
    assert credits_text({**got, "rules": []}).endswith("no prices or limits: jobs are free")


DAY1 = dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC).timestamp()


def test_local_sums_per_day_of_the_start() -> None:
    gpu_job = replace(job("cleaned"), spec=JobSpec(name="g", command=("true",), resources=Resources(gpus=2)))
    jobs = [replace(job("cleaned"), started_at=DAY1, ended_at=DAY1 + 3600, cpu_seconds=1800.0, max_rss_bytes=2 << 30),
            replace(gpu_job, started_at=DAY1 + 60, ended_at=DAY1 + 60 + 1800),
            replace(job("running"), started_at=DAY1 + 86_400, cpu_seconds=36.0),
            job("queued")]
    rows = per_day(jobs, now=DAY1 + 86_400 + 360)
    assert rows == [{"day": "2026-12-05", "jobs": 2, "cpu_hours": 0.5, "memory_gib_hours": 2.0, "gpu_hours": 1.0},
                    {"day": "2026-12-06", "jobs": 1, "cpu_hours": 0.01, "memory_gib_hours": 0.0, "gpu_hours": 0.0}]
    assert per_day(jobs, now=DAY1 + 86_400 + 360, since="2026-12-06")[0]["day"] == "2026-12-06"


def test_without_a_hub_lz_usage_reads_this_landing_zones_store(tmp_path: Path) -> None:
    (tmp_path / "lz.toml").write_text("")
    env = {"LZ_DB": str(tmp_path / "lz.db"), "LZ_WORKDIR": str(tmp_path / "work"), "LZ_HUB": "",
           "LZ_CONFIG": str(tmp_path / "lz.toml"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "LZ_CONTAINER": "none"}
    runner = CliRunner()
    assert json.loads(runner.invoke(main, ["usage", "--json"], env=env).output) == []
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "lz.toml").write_text('command = ["true"]\n')
    submitted = runner.invoke(main, ["submit", str(folder)], env=env)
    assert submitted.exit_code == 0, submitted.output
    job_id = submitted.output.strip().splitlines()[-1]
    from lz.client.local import open_store
    from lz.config import load_settings

    store = open_store(load_settings(tmp_path / "lz.toml", flags={"db": tmp_path / "lz.db",
                                                                        "workdir": tmp_path / "work"}))
    store.record(job_id, started_at=DAY1, ended_at=DAY1 + 720, cpu_seconds=360.0)
    result = runner.invoke(main, ["usage", "--csv"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["day,jobs,cpu_hours,memory_gib_hours,gpu_hours", "2026-12-05,1,0.1,0.0,0.0"]
    refused = runner.invoke(main, ["usage", "--station", "s"], env=env)
    assert refused.exit_code != 0 and "--station and --user need a hub" in refused.output
