"""The batch-of-pilots recipe on the real Slurm: one ``lz login``, then a job array of 3 landing
zones (``sbatch --array=0-2``) started with ``--token FILE`` sharing that file. Access tokens live
20 s, so the pilots refresh concurrently many times; all three stay online for two minutes (CI: one, LZ_TEST_ARRAY_WATCH_S) and
none asks to log in again. On a node with fewer than 3 CPUs (the dev cluster has 2, and Slurm
allocates whole cores) the third task waits for a CPU: after the watch the test cancels task 0, and
task 2 must start from the token file, rotated many times by then, without a login."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.hub_server import HubServer
from tests.integration.slurm_cluster import gone, requires_slurm
from tests.integration.test_login_refresh import login

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.slurm, requires_slurm]

WATCH_S = float(os.environ.get("LZ_TEST_ARRAY_WATCH_S", "120"))
ACCESS_S = 12.0  # each pilot refreshes its access token every 9 s: three lifetimes in a 36-s watch


@pytest.fixture
def hub(tmp_path: Path) -> Any:
    config = tmp_path / "hub.toml"
    config.write_text(f"[login]\naccess_s = {ACCESS_S:g}\ndevice_interval_s = 1\n")
    server = HubServer(tmp_path / "hub", config=config, lease_s=10)
    server.start()
    server.cli("hub", "user", "add", "alice")
    yield server
    server.stop()


def test_job_array_of_three_pilots_shares_one_login(hub: HubServer, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    token_file = shared / "token"
    login(hub, token_file, tmp_path)
    first = json.loads(token_file.read_text())
    name = f"lzlogin{os.getpid()}"
    script = shared / "pilots.sh"
    script.write_text(f"""#!/bin/sh
export LZ_DB={shared}/pilot_$SLURM_ARRAY_TASK_ID/lz.db LZ_WORKDIR={shared}/pilot_$SLURM_ARRAY_TASK_ID/work
export XDG_STATE_HOME={shared}/pilot_$SLURM_ARRAY_TASK_ID/state PYTHONPATH={Path.cwd()}
exec {sys.executable} -m lz run --container none --name pilot_$SLURM_ARRAY_TASK_ID --hub {hub.url} \\
    --token {token_file} --tick 1 -v
""")
    script.chmod(0o700)
    submitted = subprocess.run(["sbatch", "--parsable", "--array=0-2", f"--job-name={name}", "--cpus-per-task=1", "--mem=500M",
                    f"--output={shared}/pilot_%a.out", str(script)], check=True, capture_output=True, text=True)
    array_id = submitted.stdout.strip().split(";")[0]
    cpus = int(subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True).stdout.split()[0])
    together = {f"pilot_{i}" for i in range(min(3, cpus))}
    alice = tmp_path / "alice"
    alice.write_text(hub.cli("hub", "token", "create", "--user", "alice").stdout.strip().splitlines()[-1])
    alice.chmod(0o600)
    try:
        deadline = time.time() + 180
        online: set[str] = set()
        while time.time() < deadline and online != together:
            online = {z["name"] for z in hub.client_json(alice, "zones") if z["online"]}
            time.sleep(1)
        assert online == together, _outputs(shared)
        end = time.time() + WATCH_S
        while time.time() < end:
            online = {z["name"] for z in hub.client_json(alice, "zones") if z["online"]}
            assert online == together, (online, _outputs(shared))
            time.sleep(5)
        if len(together) < 3:
            subprocess.run(["scancel", f"{array_id}_0"], check=True)
            deadline = time.time() + 120
            while time.time() < deadline and "pilot_2" not in online:
                online = {z["name"] for z in hub.client_json(alice, "zones") if z["online"]}
                time.sleep(1)
            assert "pilot_2" in online, _outputs(shared)
            time.sleep(ACCESS_S + 2)  # past another access-token lifetime
            online = {z["name"] for z in hub.client_json(alice, "zones") if z["online"]}
            assert {"pilot_1", "pilot_2"} <= online, (online, _outputs(shared))
        outputs = _outputs(shared)
        assert "log in again" not in outputs and "Please visit" not in outputs, outputs
        last = json.loads(token_file.read_text())
        assert last["refresh_token"] != first["refresh_token"]  # refreshed (rotated) meanwhile
        assert first["access_token"] not in outputs and last["access_token"] not in outputs
    finally:
        subprocess.run(["scancel", f"--name={name}"], check=False)
        gone(name, 180)  # draining pilots linger: the next Slurm test finds the queue empty


def _outputs(shared: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(shared.glob("*.out")))
