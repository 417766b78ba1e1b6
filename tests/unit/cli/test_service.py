"""systemd units: what they promise about stopping and hardening, ``lz service install``, and
``systemd-analyze verify`` finding nothing to complain about in any generated unit."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from lz.cli import main
from lz.service.install import Placement, units, write
from lz.service.units import STOP_MARGIN_S, gateway_unit, hub_unit

IMPLY_NO_NEW_PRIVILEGES = ("NoNewPrivileges=yes", "RestrictNamespaces", "PrivateDevices", "SystemCallFilter",
                           "ProtectKernel", "ProtectClock", "RestrictSUIDSGID", "LockPersonality",
                           "MemoryDenyWriteExecute", "CapabilityBoundingSet", "PrivateUsers")


def _keys(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.mark.parametrize("make", [gateway_unit, hub_unit])
@pytest.mark.parametrize("user_mode", [False, True])
def test_stop_drains_then_kills_after_the_grace(make, user_mode: bool) -> None:  # type: ignore[no-untyped-def]
    unit = make("/opt/lz/bin/lz", user_mode=user_mode, stop_grace_s=120)
    keys = _keys(unit.text)
    assert keys["KillMode"] == "mixed" and keys["KillSignal"] == "SIGTERM"  # SIGTERM to the daemon alone first
    assert float(keys["TimeoutStopSec"]) == 120 + STOP_MARGIN_S > 120
    assert keys["Restart"] == "on-failure"
    assert keys["EnvironmentFile"].startswith("-") and keys["EnvironmentFile"].endswith(unit.env_name)
    assert not any(option in unit.text for option in IMPLY_NO_NEW_PRIVILEGES), "would break Apptainer's setuid starter"
    assert ("User=lz" in unit.text) is (not user_mode)
    assert keys["UMask"] == "0077"


def test_the_hub_unit_runs_hub_serve_with_its_flags_from_the_environment_file() -> None:
    unit = hub_unit("/usr/bin/lz", user_mode=False)
    assert _keys(unit.text)["ExecStart"] == "/usr/bin/lz hub serve $LZ_HUB_ARGS"
    assert "--listen" in unit.env_text and "--db" in unit.env_text
    assert _keys(gateway_unit("/usr/bin/lz", user_mode=False).text)["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_install_keeps_an_existing_environment_file(tmp_path: Path) -> None:
    placement = Placement(tmp_path / "units", tmp_path / "env", user_mode=False)
    made = units("/usr/bin/lz", placement, hub=False, account="lz", stop_grace_s=60)
    first = write(made, placement)
    assert {p.name for p in first} == {"lz.service", "lz.env"}
    assert (tmp_path / "env" / "lz.env").stat().st_mode & 0o777 == 0o600
    (tmp_path / "env" / "lz.env").write_text("LZ_RUN_ARGS=--metrics 127.0.0.1:9750\n")
    assert [p.name for p in write(made, placement)] == ["lz.service"]
    assert "9750" in (tmp_path / "env" / "lz.env").read_text()


def test_cli_dry_run_prints_and_writes_nothing(tmp_path: Path) -> None:
    env = {"LZ_DB": str(tmp_path / "s" / "lz.db"), "LZ_CONFIG": "", "HOME": str(tmp_path)}
    result = CliRunner().invoke(main, ["service", "install", "--dry-run", "--root", str(tmp_path / "r")], env=env)
    assert result.exit_code == 0, result.output
    assert "# /etc/systemd/system/lz.service" in result.stdout and "KillMode=mixed" in result.stdout
    assert not (tmp_path / "r").exists()


def _verify(paths: list[Path], user: bool, runtime_dir: Path) -> subprocess.CompletedProcess[str]:
    argv = ["systemd-analyze", *(["--user"] if user else []), "verify", *map(str, paths)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)})


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze (Debian: systemd) is missing")
@pytest.mark.parametrize("user_flag", [[], ["--user"]])
def test_systemd_analyze_verify_accepts_every_generated_unit(tmp_path: Path, user_flag: list[str]) -> None:
    """verify exits 0 even for a unit it ignores lines of: a clean unit is one it says nothing about."""
    env = {"LZ_DB": str(tmp_path / "s" / "lz.db"), "LZ_CONFIG": "", "HOME": str(tmp_path / "home"),
           "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config")}
    root = tmp_path / "root"
    for hub in ([], ["--hub"]):
        result = CliRunner().invoke(main, ["service", "install", *user_flag, *hub, "--root", str(root)], env=env)
        assert result.exit_code == 0, result.output
    unit_files = sorted(root.rglob("*.service"))
    assert [p.name for p in unit_files] == ["lz-hub.service", "lz.service"]
    # a short runtime directory: the user units' socket paths under it must fit in 108 bytes,
    # which tmp_path under xdist (…/popen-gw0/test_…) does not
    with tempfile.TemporaryDirectory(prefix="lz-run-") as short:
        runtime_dir = Path(short)
        runtime_dir.chmod(0o700)
        checked = _verify(unit_files, bool(user_flag), runtime_dir)
        broken = tmp_path / "broken.service"
        broken.write_text(unit_files[1].read_text().replace("KillMode=mixed", "KillMode=drain"))
        complaint = _verify([broken], bool(user_flag), runtime_dir)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stdout + checked.stderr
    assert "KillMode" in complaint.stderr or "kill mode" in complaint.stderr  # the check can fail
