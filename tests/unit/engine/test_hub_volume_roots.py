"""A landing zone decides what it binds (issue 21, item 2): a hub's volume is bound only inside
the zone's own ``hub_volume_roots``, read-write only where listed so, and never the zone's home,
state or token folders, whatever the hub sent: the job fails before it runs, with the reason."""

from pathlib import Path

import pytest

from lz.config import Settings, load_settings
from lz.core.value_class import replace
from lz.core.volumes import Volume, hub_volume_refusal
from lz.intake.receive import Rejected, receive
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade


def test_the_allow_list_rule() -> None:
    ro, rw = Volume("d", "/srv/data/x", "/data"), Volume("d", "/srv/data/x", "/data", "rw")
    protected = ("/home/lz", "/var/lib/lz")
    assert hub_volume_refusal(ro, "/srv/data/x", ("/srv/data",), protected) is None
    assert hub_volume_refusal(rw, "/srv/data/x", ("/srv/data:rw",), protected) is None
    assert "read-only" in (hub_volume_refusal(rw, "/srv/data/x", ("/srv/data",), protected) or "")
    assert "not inside" in (hub_volume_refusal(ro, "/srv/other", ("/srv/data",), protected) or "")
    assert "none are set" in (hub_volume_refusal(ro, "/srv/data/x", (), protected) or "")
    assert "/srv/data" in (hub_volume_refusal(ro, "/srv/datax", ("/srv/data",), protected) or "")  # a prefix is not a root
    for path in ("/home/lz", "/home/lz/.config/lz", "/home", "/var/lib/lz/spool", "/"):
        refusal = hub_volume_refusal(Volume("d", path, "/data", "rw"), path, ("/:rw",), protected)
        assert refusal and "never binds" in refusal, path
    assert "work root" in (hub_volume_refusal(ro, "/scratch", ("/:rw",), (), ("/scratch/lz-work",)) or "")


@pytest.fixture()
def zone(tmp_path: Path) -> tuple[Settings, JobStore]:
    settings = Settings(db=tmp_path / "state" / "lz.db", workdir=tmp_path / "work", runtime="none",
                        hub_volume_roots=(str(tmp_path / "shared"), f"{tmp_path / 'scratch'}:rw"))
    engine = make_engine(settings.db)
    upgrade(engine)
    return settings, JobStore(engine)


def _job(tmp_path: Path) -> Path:
    folder = tmp_path / "job"
    folder.mkdir(exist_ok=True)
    (folder / "lz.toml").write_text('command = ["true"]\n')
    return folder


def test_a_hub_volume_is_bound_only_where_the_zone_allows(tmp_path: Path, zone: tuple[Settings, JobStore]) -> None:
    settings, store = zone
    for folder in ("shared/ref", "scratch/out", "elsewhere"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "shared" / "escape").symlink_to(tmp_path / "elsewhere")
    ok = receive(store, settings, _job(tmp_path), volumes=(Volume("ref", str(tmp_path / "shared/ref"), "/data/ref"),
                                                           Volume("out", str(tmp_path / "scratch/out"), "/out", "rw")))
    assert {v.name for v in ok.spec.volumes} == {"ref", "out"}
    refused = {
        "outside": Volume("x", str(tmp_path / "elsewhere"), "/x"),
        "rw where ro": Volume("x", str(tmp_path / "shared/ref"), "/x", "rw"),
        "a link out of a root": Volume("x", str(tmp_path / "shared/escape"), "/x"),
        "the state folder": Volume("x", str(settings.state_dir), "/x"),
    }
    for why, volume in refused.items():
        with pytest.raises(Rejected) as caught:
            receive(store, replace(settings, hub_volume_roots=(*settings.hub_volume_roots, f"{settings.state_dir}:rw"))
                    if why == "the state folder" else settings, _job(tmp_path), volumes=(volume,))
        assert caught.value.job.outcome == "failed" and "hub volume 'x'" in (caught.value.job.reason or ""), why


def test_the_allow_list_comes_from_the_environment_or_the_file(tmp_path: Path) -> None:
    env = {"LZ_HUB_VOLUME_ROOTS": "/srv/data, /scratch:rw", "HOME": str(tmp_path)}
    assert load_settings(None, env).hub_volume_roots == ("/srv/data", "/scratch:rw")
    config = tmp_path / "c.toml"
    config.write_text('hub_volume_roots = ["/srv/data"]\n')
    assert load_settings(config, {"HOME": str(tmp_path)}).hub_volume_roots == ("/srv/data",)
