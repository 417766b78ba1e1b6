from pathlib import Path

import pytest

from lz.config import load_settings
from lz.core.errors import ConfigError


def test_layers_defaults_file_env_flags(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('name = "site"\ntick = 7\nworkers = 2\n[images]\nbusybox = "/srv/busybox"\n'
                      '[limits]\ncpus = 8\ntime = "24:00:00"\n[slurm]\naccount = "proj"\n')
    env = {"HOME": str(tmp_path), "LZ_WORKERS": "3", "TMPDIR": "/scratch"}
    settings = load_settings(config, environ=env, flags={"tick_s": 1.5, "db": None})
    assert settings.name == "site" and settings.workers == 3 and settings.tick_s == 1.5
    assert settings.workdir == Path("/scratch")
    assert settings.db == tmp_path / ".local/state/lz/lz.db"
    assert settings.images == {"busybox": "/srv/busybox"}
    assert settings.limits.max_cpus == 8 and settings.limits.max_time_s == 86400
    assert settings.slurm.account == "proj"


def test_env_names_the_database_and_work_root(tmp_path: Path) -> None:
    settings = load_settings(environ={"HOME": str(tmp_path), "LZ_DB": "/x/lz.db", "LZ_WORKDIR": "/w"})
    assert settings.db == Path("/x/lz.db") and settings.workdir == Path("/w")
    assert settings.results_dir == Path("/x/results") and settings.spool_dir == Path("/x/spool")


def test_work_root_falls_back_through_temp_variables(tmp_path: Path) -> None:
    assert load_settings(environ={"HOME": str(tmp_path), "TEMP": "/t"}).workdir == Path("/t")
    assert load_settings(environ={"HOME": str(tmp_path), "TMP": "/u"}).workdir == Path("/u")
    assert load_settings(environ={"HOME": str(tmp_path)}).workdir == Path("/tmp")


@pytest.mark.parametrize("text,message", [
    ("colour = 1\n", "unknown setting 'colour'"),
    ("[limits]\nbananas = 3\n", "unknown limit 'bananas'"),
    ("[slurm]\nfoo = 1\n", "unknown \\[slurm\\] setting 'foo'"),
    ('container = "docker"\n', "container 'docker'"),
    ("tick = [\n", "config.toml"),
    ('notify_tcp = "somewhere"\n', "notify_tcp 'somewhere' is not HOST:PORT"),
])
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(config, environ={"HOME": str(tmp_path)})


def test_missing_named_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={"HOME": str(tmp_path)})
