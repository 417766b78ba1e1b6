"""The hub's API: uploads checked like local jobs, Stations and landing zones, tokens, schema."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lz.core.errors import UserError
from lz.hub.server import db
from lz.hub.server.domain import tokens
from lz.hub.server.models import HubBase
from tests.paths import ROOT
from tests.unit.hub_helpers import HubApp, hub_app, job_tarball

DOC = ROOT / "docs" / "hub-openapi.json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, max_upload_bytes=64 * 1024, max_bundle_files=10, max_bundle_bytes=100_000) as a:
        yield a


def _tar(members: list[tuple[str, bytes | None, str | None]]) -> bytes:
    """(name, data or None for a symlink, link target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, link or ""
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(("body", "status", "words"), [
    (b"not a tarball", 422, "damaged tarball"),
    (_tar([("job/lz.toml", b'command = ["true"]\n', None), ("job/../../escape", b"x", None)]), 422, "'..'"),
    (_tar([("/etc/passwd", b"x", None)]), 422, "absolute"),
    (_tar([("job/lz.toml", b'command = ["true"]\n', None), ("job/link", None, "/etc/shadow")]), 422, "symlink"),
    (_tar([("job/lz.toml", b'command = ["true"]\n', None)] + [(f"job/f{i}", b"", None) for i in range(12)]),
     422, "too many files"),
    (_tar([("job/lz.toml", b'command = ["true"]\n', None), ("job/big", b"\0" * 200_000, None)]), 422, "larger"),
    (_tar([("job/lz.toml", b'command = "rm -rf /"\n', None)]), 422, "command"),
    (_tar([("job/lz.toml", b'bogus = 1\ncommand = ["true"]\n', None)]), 422, "unknown key"),
    (b"\0" * (65 * 1024), 413, "larger than"),
], ids=lambda value: "body" if isinstance(value, bytes) else None)  # a gzip holds its time: not an id
def test_uploads_are_refused_with_one_line(app: HubApp, body: bytes, status: int, words: str) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    response = app.submit(alice, body=body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert words in detail and "\n" not in detail
    assert app.ok("GET", "/jobs", alice) == []
    assert list((app.hub.files.root / "incoming").iterdir()) == []  # nothing left behind
    assert list((app.hub.files.root / "bundles").iterdir()) == []


def test_resources_from_flags_and_a_job_name(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job = app.submit(alice, name="mine", cpus="2", memory="1G", time="01:00:00").json()
    assert job["name"] == "mine" and job["station"] == "s1"
    assert job["resources"] == {"cpus": 2, "memory_mb": 1024, "gpus": 0, "time_s": 3600, "partition": None}
    assert job["command"] == ["echo", "hi"] and job["pending_reason"] == "waiting for a landing zone"
    assert app.submit(alice, cpus="lots").status_code == 422


def test_files_and_database_are_private(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.submit(alice)
    root = app.hub.files.root
    assert (root.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o077) == 0 for p in root.rglob("*"))
    assert (Path(app.hub.engine.url.database).stat().st_mode & 0o077) == 0


def test_tokens_are_stored_hashed_and_expire(app: HubApp) -> None:
    token = app.user("alice", expires_s=60)
    assert app.call("GET", "/whoami", token).json() == {"user": "alice", "admin": False, "scope": "user"}
    with sqlite3.connect(app.hub.engine.url.database) as conn:
        dump = "\n".join(conn.iterdump())
    assert token not in dump and tokens.digest(token) in dump
    app.clock.now += 61
    assert app.call("GET", "/whoami", token).status_code == 401


def test_durations() -> None:
    assert tokens.parse_duration("30d") == 30 * 86400
    assert tokens.parse_duration("90") == 90
    with pytest.raises(UserError):
        tokens.parse_duration("soon")


def test_stations_and_zones(app: HubApp) -> None:
    alice, bob = app.user("alice"), app.user("bob")
    app.station_with_zone(alice)
    assert app.call("POST", "/stations", bob, json={"name": "s1"}).status_code == 409
    assert app.call("POST", "/stations", bob, json={"name": "bad name"}).status_code == 422
    app.ok("POST", "/stations/s1/members", alice, json={"user": "bob"})
    station = app.ok("GET", "/stations/s1", bob)
    assert station["members"] == [{"user": "alice", "role": "owner"}, {"user": "bob", "role": "contributor"}]
    assert station["landing_zones"] == ["lz1"]
    zones = app.ok("GET", "/zones", bob)
    assert [(z["name"], z["owner"], z["cpus"], z["stations"], z["online"]) for z in zones] == [
        ("lz1", "alice", 4, ["s1"], True)]
    app.clock.now += 3600
    assert app.ok("GET", "/zones", bob)[0]["online"] is False
    app.ok("DELETE", "/stations/s1/zones/lz1", alice)
    assert app.ok("GET", "/stations/s1", alice)["landing_zones"] == []


def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = db.make_hub_engine(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade(engine)
    db.upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), HubBase.metadata)
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "hub_alembic_version")] == []


def test_openapi_document_is_committed_and_current() -> None:
    from lz.hub.server.openapi import document

    assert DOC.exists(), "run: lz hub openapi -o docs/hub-openapi.json"
    committed, current = json.loads(DOC.read_text()), json.loads(document())
    for doc in (committed, current):  # the build's version (from git: every commit has its own) is not the API
        doc["info"].pop("version")
    assert committed == current, "run: lz hub openapi -o docs/hub-openapi.json"


def test_job_tarball_helper_is_a_valid_job(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    assert app.submit(alice, body=job_tarball(top="")).status_code == 201


def test_the_job_list_pages_newest_first_with_a_total(app: HubApp) -> None:
    """Issue 22: the list returned the oldest 1,000 jobs with no paging, so the newest vanished."""
    alice = app.user("alice")
    app.station_with_zone(alice)
    made = []
    for _ in range(25):
        app.clock.now += 1
        made.append(app.submit(alice).json()["id"])
    seen: list[str] = []
    before = None
    while True:
        answer = app.call("GET", "/jobs", alice, params={"limit": 10, **({"before": before} if before else {})})
        assert answer.status_code == 200 and answer.headers["X-Lz-Total"] == "25"
        seen += [j["id"] for j in answer.json()]
        before = answer.headers.get("X-Lz-Next")
        if not before:
            break
    assert seen == made[::-1]
    app.ok("POST", f"/jobs/{made[0]}/cancel", alice)
    cancelled = app.call("GET", "/jobs", alice, params={"outcome": "cancelled"})
    assert [j["id"] for j in cancelled.json()] == [made[0]] and cancelled.headers["X-Lz-Total"] == "1"
    waiting = app.call("GET", "/jobs", alice, params={"state": "received", "limit": 1000})
    assert waiting.headers["X-Lz-Total"] == "24" and "X-Lz-Next" not in waiting.headers
    assert app.call("GET", "/jobs", alice, params={"before": "nonsense"}).status_code == 422


def test_a_total_past_the_count_limit_is_a_lower_bound(app: HubApp) -> None:
    """A list's total counts at most COUNT_CAP + 1 rows (a million-row count cost the page
    180 ms on PostgreSQL); past it the total says "more than" (API: X-Lz-Total-Exact false)."""
    from lz.hub.server.domain import jobs
    from lz.hub.server.domain.accounts import Principal

    alice = app.user("alice")
    app.station_with_zone(alice)
    for _ in range(12):
        app.clock.now += 1
        app.submit(alice)
    root = Principal(0, "root", True, "user", 0)
    assert app.hub.read(lambda c: jobs.counted(c, root, cap=12)) == jobs.Total(12)
    capped = app.hub.read(lambda c: jobs.counted(c, root, cap=11))
    assert capped == jobs.Total(11, exact=False) and str(capped) == "more than 11"
    assert app.hub.read(lambda c: jobs.counted(c, root, jobs.JobFilter(names=("nomatch",)), cap=11)) == jobs.Total(0)
    answer = app.call("GET", "/jobs", alice, params={"limit": 5})
    assert answer.headers["X-Lz-Total"] == "12" and "X-Lz-Total-Exact" not in answer.headers


def test_the_job_list_pages_oldest_first_and_ends_on_a_full_last_page(app: HubApp) -> None:
    """The order the web page's Jobs tab offers too (one listing, ``jobs.page``); a full last
    page carries no X-Lz-Next (it used to, and the next call answered an empty page)."""
    alice = app.user("alice")
    app.station_with_zone(alice)
    made = []
    for _ in range(15):
        app.clock.now += 1
        made.append(app.submit(alice).json()["id"])
    pages: list[list[str]] = []
    before = None
    while True:
        answer = app.call("GET", "/jobs", alice, params={"limit": 5, "order": "oldest",
                                                          **({"before": before} if before else {})})
        assert answer.status_code == 200
        pages.append([j["id"] for j in answer.json()])
        before = answer.headers.get("X-Lz-Next")
        if not before:
            break
    assert pages == [made[0:5], made[5:10], made[10:15]]
    assert app.call("GET", "/jobs", alice, params={"order": "sideways"}).status_code == 422
