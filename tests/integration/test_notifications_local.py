"""Notifications from a job on a real daemon (local executor, no container): the sh helper, the
Python ``lz-notify`` and a plain ``echo > $LZ_NOTIFY`` all arrive, a flood is cut to the rate
limit, ``lz logs JOB --notifications`` shows them, and the channel never shows in the results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone
from tests.paths import ROOT

pytestmark = pytest.mark.integration


def notifying_job(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "lz.toml").write_text('name = "notifier"\ncommand = ["sh", "run.sh"]\n')
    (folder / "run.sh").write_text(
        'echo result > out.txt\n'
        '"$(dirname "$LZ_NOTIFY")/lz-notify" "from the sh helper"\n'
        f'{sys.executable} -c "import sys; sys.path.insert(0, \'{ROOT}\'); from lz.cli.notify_send import main; '
        'sys.exit(main())" from python\n'
        'printf "plain echo \\033[31mred\\033[0m\\n" > "$LZ_NOTIFY"\n'
        'i=0; while [ $i -lt 50 ]; do echo "flood $i" > "$LZ_NOTIFY"; i=$((i+1)); done\n'
        'echo "LZ_NOTIFY=$LZ_NOTIFY"\n')
    return folder


def test_a_jobs_notifications_reach_lz_logs(landing_zone: LandingZone, tmp_path: Path) -> None:
    landing_zone.config.write_text("notify_per_minute = 5\n")
    landing_zone.start()
    job_id = landing_zone.submit(notifying_job(tmp_path / "job"))
    job = landing_zone.wait_for_state(job_id, ["cleaned"], timeout=60)
    assert job["outcome"] == "succeeded", job
    lines = landing_zone.cli("logs", job_id, "--notifications").stdout.splitlines()
    texts = [line.split("  ", 1)[1] for line in lines]
    assert texts[:3] == ["from the sh helper", "from python", "plain echo  [31mred [0m"], lines
    assert texts[3:] == ["flood 0", "flood 1", "[lz: 48 messages dropped: at most 5 a minute]"]  # five a minute
    assert all(line[:4] == "20" + line[2:4] and line[10] == "T" for line in lines)
    out = tmp_path / "results"
    landing_zone.cli("results", job_id, "-o", str(out))
    assert not (out / ".lz-notify").exists() and (out / "out.txt").exists()
    assert "LZ_NOTIFY=" + str(tmp_path) in (out / ".lz" / "stdout").read_text()
    assert ".lz-notify" not in (out / ".lz" / "manifest.json").read_text()
