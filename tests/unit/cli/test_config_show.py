"""``lz config show`` says where each value came from; ``docs/configuration.md`` is generated from
the settings and may not drift; every setting is described."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lz.cli import main
from lz.config import load_settings_with_sources
from lz.ops.config_reference import missing_descriptions, reference
from tests.paths import ROOT


def test_each_layer_is_named_as_the_source(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('name = "galileo"\ntick = 2\ncontainer = "slurm"\n[slurm]\naccount = "proj"\n')
    settings, sources = load_settings_with_sources(
        config, environ={"HOME": str(tmp_path), "LZ_TICK": "3", "LZ_WORKERS": "2"}, flags={"workers": 8, "db": None})
    assert (settings.name, settings.tick_s, settings.workers, settings.executor) == ("galileo", 3.0, 8, "slurm")
    assert sources["name"] == sources["executor"] == sources["slurm"] == f"file {config}"
    assert sources["tick_s"] == "environment LZ_TICK"
    assert sources["workers"] == "flag --workers"
    assert "db" not in sources and "retention_days" not in sources  # defaults


def test_cli_show_prints_value_and_source(tmp_path: Path) -> None:
    env = {"LZ_CONFIG": "", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "c"), "LZ_RUNTIME": "none",
           "LZ_DB": ""}
    text = CliRunner().invoke(main, ["config", "show", "--db", str(tmp_path / "x.db")], env=env)
    assert text.exit_code == 0, text.output
    lines = {line.split(" = ")[0].strip(): line for line in text.stdout.splitlines()}
    assert lines["runtime"].endswith('= "none"  # environment LZ_RUNTIME')
    assert lines["db"].endswith(f'= "{tmp_path / "x.db"}"  # flag --db')
    assert lines["slurm.gpu_flag"].endswith('= "gpus"  # default')
    shown = json.loads(CliRunner().invoke(main, ["config", "show", "--json"], env=env).stdout)
    assert shown["tick_s"] == {"value": 5.0, "source": "default"}


def test_every_setting_is_described() -> None:
    assert missing_descriptions() == []


def test_committed_reference_is_the_generated_one() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == reference(), "docs/configuration.md is stale: run `lz config reference -o docs/configuration.md`"
