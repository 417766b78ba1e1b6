"""The hub's start-up warm-up (issue 22): the first job of a process no longer builds the routes,
and warming leaves the database and the store exactly as they were."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import routing

from lz.hub.server.warmup import warm
from tests.unit.hub_helpers import hub_app, results_tar


def _everything(h: Any, files: Path) -> tuple[dict[str, int], list[str]]:
    def _counts(conn: Any) -> dict[str, int]:
        names = sa.inspect(conn).get_table_names()
        return {n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}

    return h.hub.read(_counts), sorted(str(p.relative_to(files)) for p in files.rglob("*"))


def test_warming_touches_neither_the_database_nor_the_store(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        h.station_with_zone(alice)
        before = _everything(h, tmp_path / "hub" / "files")
        assert warm(h.client.app) > 50  # every endpoint of every router
        assert _everything(h, tmp_path / "hub" / "files") == before


def test_after_warming_the_first_job_builds_no_route_and_imports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(routing, "_populate_api_route_state"):
        pytest.skip("this FastAPI builds its routes when they are added")
    built: list[str] = []
    real = routing._populate_api_route_state

    def counted(route: Any, path: str, *args: Any, **kwargs: Any) -> None:
        built.append(path)
        real(route, path, *args, **kwargs)

    with hub_app(tmp_path) as h:
        warm(h.client.app)
        monkeypatch.setattr(routing, "_populate_api_route_state", counted)
        alice = h.user("alice")
        h.station_with_zone(alice)
        modules = set(sys.modules)
        assert h.submit(alice).status_code == 201
        [job] = h.claim(alice)
        assert h.call("POST", f"/lz/jobs/{job['id']}/finish", alice, json={
            "name": "lz1", "attempt": job["attempt"], "results": True,
            "results_inline": base64.b64encode(results_tar()).decode("ascii"),
            "facts": {"outcome": "succeeded", "exit_code": 0}}).status_code == 200
    assert built == []
    assert sorted(set(sys.modules) - modules) == []  # nothing imported on a job's path either
