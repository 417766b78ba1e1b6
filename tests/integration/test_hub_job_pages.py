"""`lz status --hub` after 1,500 jobs (issue 22): the newest first, and every one of them with
--all, page after page; the hub's list used to return the oldest 1,000 and stop."""

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.integration.hub_server import HubServer

pytestmark = pytest.mark.integration


def test_status_pages_through_fifteen_hundred_jobs(tmp_path: Path) -> None:
    hub = HubServer(tmp_path / "hub")
    hub.start()
    try:
        alice = hub.user("alice")
        hub.client(alice, "station", "create", "big")
        with sqlite3.connect(hub.db) as db:  # 1,500 submissions, written straight into the table
            station_id, = db.execute("SELECT id FROM stations WHERE name = 'big'").fetchone()
            user_id, = db.execute("SELECT id FROM users WHERE name = 'alice'").fetchone()
            now = time.time()
            db.executemany(
                "INSERT INTO hub_jobs (id, station_id, submitter_id, submit_key, name, spec, bundle, bundle_bytes, "
                "phase, attempt, cancel_requested, control_seq, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, '{}', '', 0, 'pending', 1, 0, 0, 'received', ?, ?)",
                [(f"{i:010x}", station_id, user_id, f"key-{i}", f"job{i}", now + i, now + i) for i in range(1500)])
        newest = json.loads(hub.client(alice, "status", "--json").stdout)
        assert [j["name"] for j in newest] == [f"job{i}" for i in range(1499, 1399, -1)]  # the newest 100
        table = hub.client(alice, "status").stdout
        assert "the newest 100 of more than 1000 jobs" in table
        every = json.loads(hub.client(alice, "status", "--all", "--json").stdout)
        assert [j["name"] for j in every] == [f"job{i}" for i in range(1499, -1, -1)]
    finally:
        hub.stop()
