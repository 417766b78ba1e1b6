"""Volumes (pure): what a configuration may declare, how each runtime binds them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lz.core.errors import ConfigError
from lz.core.job import JobSpec
from lz.core.layout import JobPaths
from lz.core.records import JobContext
from lz.core.volumes import Volume, check, from_config
from lz.runtimes.apptainer import ApptainerRuntime
from lz.runtimes.charliecloud import CharliecloudRuntime, read_only_prefix
from lz.runtimes.none import NoneRuntime

REF = Volume("ref", "/srv/ref", "/data/ref", "ro")
OUT = Volume("out", "/srv/out", "/data/out", "rw")


def context(tmp_path: Path) -> JobContext:
    spec = JobSpec(name="v", command=("sh", "run.sh"), volumes=(REF, OUT))
    return JobContext("j1", spec, JobPaths.under(tmp_path, "j1", "lz-"))


@pytest.mark.parametrize("mount", ["/lz/work", "/lz/work/data", "/lz", "/", "/etc/x", "/proc", "data",
                                   "/data/../etc", "/data:ro", "/a,b"])
def test_bad_mount_points_are_refused(mount: str) -> None:
    with pytest.raises(ConfigError):
        check(Volume("v", "/srv/x", mount))


def test_config_tables() -> None:
    assert from_config({"ref": {"host_path": "/srv/ref", "mount": "/data/ref"}}) == (Volume("ref", "/srv/ref", "/data/ref", "ro"),)
    with pytest.raises(ConfigError, match="access"):
        from_config({"ref": {"host_path": "/srv/ref", "mount": "/data/ref", "access": "wo"}})
    with pytest.raises(ConfigError, match="needs host_path"):
        from_config({"ref": {"mount": "/data/ref"}})


def test_the_spec_carries_volumes() -> None:
    spec = JobSpec(name="v", volumes=(REF, OUT))
    assert JobSpec.from_dict(spec.to_dict()) == spec
    assert JobSpec.from_dict({"name": "old"}).volumes == ()


def test_each_runtime_binds_them(tmp_path: Path) -> None:
    job = context(tmp_path)
    argv = ApptainerRuntime().run_argv(job)
    assert "/srv/ref:/data/ref:ro" in argv and "/srv/out:/data/out:rw" in argv
    argv = CharliecloudRuntime().run_argv(job)
    assert argv[:len(read_only_prefix(["/srv/ref"]))] == read_only_prefix(["/srv/ref"])
    assert "/srv/ref:/data/ref" in argv and "/srv/out:/data/out" in argv
    argv = NoneRuntime().run_argv(job)
    assert argv[:3] == ["env", "LZ_VOLUME_OUT=/srv/out", "LZ_VOLUME_REF=/srv/ref"]
    assert read_only_prefix([]) == []
