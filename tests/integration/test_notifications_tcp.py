"""Notifications over TCP (``notify_tcp``), the original's ``$LZ_NOTIFY=host:port``, from jobs on a
real daemon: the local executor, and a real SLURM job on the dev cluster. The job sends with the
sh helper, the Python ``lz-notify`` and the plain protocol (its token's line, then its message's);
a line posing as another job with a made-up token is refused and never stored."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone
from tests.integration.slurm_cluster import requires_slurm
from tests.notify_receivers import free_port
from tests.paths import ROOT

PLAIN = ('import os, socket; h, _, p = os.environ["LZ_NOTIFY"].rpartition(":"); '
         's = socket.create_connection((h, int(p)), timeout=10); '
         's.sendall(os.environ["LZ_NOTIFY_TOKEN"].encode() + b"\\nplain protocol\\n"); s.close()')
FORGED = ('import os, socket; h, _, p = os.environ["LZ_NOTIFY"].rpartition(":"); '
          's = socket.create_connection((h, int(p)), timeout=10); '
          's.sendall(b"someone-else.0123456789abcdef0123456789abcdef01234567\\nforged\\n"); '
          's.shutdown(socket.SHUT_WR); print("forged answer:", s.recv(200).decode().strip())')


def tcp_job(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "lz.toml").write_text('name = "tcp-notifier"\ncommand = ["sh", "run.sh"]\n')
    (folder / "run.sh").write_text(
        'echo "LZ_NOTIFY=$LZ_NOTIFY"\n'
        '.lz-notify/lz-notify "from the sh helper"\n'
        f'{sys.executable} -c "import sys; sys.path.insert(0, \'{ROOT}\'); from lz.cli.notify_send import main; '
        'sys.exit(main())" from python\n'
        f"{sys.executable} -c '{PLAIN}'\n"
        f"{sys.executable} -c '{FORGED}'\n"
        'sleep 1\n')
    return folder


def _check(zone: LandingZone, job_id: str, port: int, tmp_path: Path, timeout: float) -> None:
    job = zone.wait_for_state(job_id, ["cleaned"], timeout=timeout)
    assert job["outcome"] == "succeeded", (job, zone.daemon_log()[-3000:])
    lines = zone.cli("logs", job_id, "--notifications").stdout.splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == ["from the sh helper", "from python", "plain protocol"], lines
    out = tmp_path / "results"
    zone.cli("results", job_id, "-o", str(out))
    stdout = (out / ".lz" / "stdout").read_text()
    assert f"LZ_NOTIFY=127.0.0.1:{port}" in stdout
    assert "forged answer: lz-notify: not the token of a job running on this landing zone" in stdout
    assert (tmp_path / "lz" / "state" / "notify.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.integration
def test_a_local_job_notifies_over_tcp(tmp_path: Path) -> None:
    port = free_port()
    zone = LandingZone(tmp_path / "lz", config=f'notify_tcp = "127.0.0.1:{port}"\n')
    zone.start()
    try:
        job_id = zone.submit(tcp_job(tmp_path / "job"))
        _check(zone, job_id, port, tmp_path, 60)
    finally:
        zone.stop()


@pytest.mark.slurm
@pytest.mark.integration
@requires_slurm
def test_a_slurm_job_notifies_over_tcp(tmp_path: Path) -> None:
    port = free_port()
    zone = LandingZone(tmp_path / "lz", container="slurm", tick=1.0, run_args=["--runtime", "none", "--name", "tcpn"],
                       config=f'notify_tcp = "127.0.0.1:{port}"\njob_prefix = "lztcp-"\n')
    zone.start()
    try:
        job_id = zone.submit(tcp_job(tmp_path / "job"))
        _check(zone, job_id, port, tmp_path, 120)
    finally:
        zone.stop()
