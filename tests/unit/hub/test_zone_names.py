"""Issue 21 item 12: landing-zone names are unique per owner, not first come first served across
the hub; a user means their own zone by its name, anybody's by ``OWNER/NAME``. And the migration
that makes it so (hub0011_tokens) keeps every Station's zones, volumes and jobs."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from lz.hub.server import db
from tests.unit.hub_helpers import hub_app


def test_two_users_each_run_a_zone_called_gw(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice, bob, root = h.user("alice"), h.user("bob"), h.user("root", admin=True)
        h.ok("POST", "/lz/register", alice, json={"name": "gw", "cpus": 4})
        h.ok("POST", "/lz/register", bob, json={"name": "gw", "cpus": 8})  # not taken away from him
        h.ok("POST", "/stations", alice, json={"name": "s1"})
        h.ok("PUT", "/stations/s1/zones/gw", alice)  # her own gw
        # bob's gw is still his: he may not be made to serve s1 by anyone's name for it but his own
        assert h.call("PUT", "/stations/s1/zones/bob/gw", alice).status_code == 403
        # a hub admin names which gw: bare "gw" is two others' zones, so ambiguous
        bare = h.call("PUT", "/stations/s1/zones/gw", root)
        assert bare.status_code == 409 and "OWNER/gw" in bare.json()["detail"]
        station = h.ok("PUT", "/stations/s1/zones/bob%2Fgw", root)  # quoted as clients send it
        assert station["landing_zones"] == ["alice/gw", "bob/gw"]
        assert h.call("PUT", "/stations/s1/zones/carol/gw", root).status_code == 404
        zones = {(z["owner"], z["name"]): z for z in h.ok("GET", "/zones", root)}
        assert zones[("alice", "gw")]["cpus"] == 4 and zones[("bob", "gw")]["cpus"] == 8
        # a bare name is its user's own zone: bob (now a member) withdraws his by name
        h.ok("POST", "/stations/s1/members", root, json={"user": "bob"})
        assert h.ok("DELETE", "/stations/s1/zones/gw", bob)["landing_zones"] == ["gw"]
        assert h.ok("DELETE", "/stations/s1/zones/gw", root)["landing_zones"] == []  # only one left: alice's


def test_volume_mapping_names_the_zone_by_owner(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice, bob = h.user("alice"), h.user("bob")
        for token in (alice, bob):
            h.ok("POST", "/lz/register", token, json={"name": "gw"})
        h.ok("POST", "/stations", alice, json={"name": "s1"})
        h.ok("PUT", "/stations/s1/zones/gw", alice)
        h.ok("PUT", "/stations/s1/volumes/ref", alice, json={"mount": "/data"})
        # bob's gw does not serve s1, whatever its name
        assert h.call("PUT", "/stations/s1/volumes/ref/zones/gw", bob, json={"host_path": "/srv"}).status_code == 404
        h.ok("PUT", "/stations/s1/volumes/ref/zones/alice/gw", alice, json={"host_path": "/srv/ref"})


def _at(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("lz.hub.server.migrations")))
    engine = db.make_hub_engine(url)
    with engine.connect().execution_options(lz_write=True) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()
    engine.dispose()


def _migrate_with_rows(url: str) -> None:
    """Rows at hub0008 (a zone serving a Station with a volume mapped, a token that never expires
    and one that does), then the upgrade: nothing of them is lost, only the endless token capped,
    and a second owner may now use the same zone name."""
    _at(url, "hub0008_attempts")
    engine = db.make_hub_engine(url)
    with db.write(engine) as conn:
        for statement in (
            "INSERT INTO users (id, name, admin, created_at) VALUES (1, 'alice', false, 1), (2, 'bob', false, 1)",
            "INSERT INTO stations (id, name, created_by, created_at) VALUES (1, 's1', 1, 1)",
            "INSERT INTO landing_zones (id, name, owner_id, registered_at, running, max_running, queue_length)"
            " VALUES (1, 'gw', 1, 1, 0, 1, 0)",
            "INSERT INTO station_zones (station_id, lz_id, added_at) VALUES (1, 1, 1)",
            "INSERT INTO station_volumes (station_id, name, mount, access, created_at) VALUES (1, 'ref', '/d', 'ro', 1)",
            "INSERT INTO volume_mappings (station_id, name, lz_id, host_path) VALUES (1, 'ref', 1, '/srv')",
            "INSERT INTO tokens (id, user_id, digest, scope, created_at, expires_at) VALUES"
            " (1, 1, 'a', 'user', 1, NULL), (2, 1, 'b', 'user', 1, 5000000000)",
        ):
            conn.execute(text(statement))
    engine.dispose()
    before = time.time()
    engine = db.make_hub_engine(url)
    db.upgrade(engine)
    with db.write(engine) as conn:
        assert conn.execute(text("SELECT station_id, lz_id FROM station_zones")).all() == [(1, 1)]
        assert conn.execute(text("SELECT lz_id FROM volume_mappings")).all() == [(1,)]
        expiry = dict(conn.execute(text("SELECT id, expires_at FROM tokens")).all())
        assert before + 90 * 86400 <= expiry[1] <= time.time() + 90 * 86400 and expiry[2] == 5000000000
        conn.execute(text("INSERT INTO landing_zones (id, name, owner_id, registered_at, running, max_running,"
                          " queue_length) VALUES (2, 'gw', 2, 1, 0, 1, 0)"))
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(IntegrityError), db.write(engine) as conn:  # within one owner a name stays one zone
        conn.execute(text("INSERT INTO landing_zones (id, name, owner_id, registered_at, running, max_running,"
                          " queue_length) VALUES (3, 'gw', 2, 1, 0, 1, 0)"))
    engine.dispose()


def test_migration_keeps_links_and_caps_endless_tokens(tmp_path: Path) -> None:
    """SQLite copies the table in batch mode: with foreign keys on, that copy's DROP would have
    cascaded and removed every Station's zones and volume mappings."""
    _migrate_with_rows(f"sqlite:///{tmp_path / 'hub.db'}")


@pytest.mark.postgres
def test_migration_on_postgresql(postgres_url: str) -> None:
    _migrate_with_rows(postgres_url)
