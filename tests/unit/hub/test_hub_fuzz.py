"""A schema-driven fuzz run of the hub's API (schemathesis against /openapi.json), authenticated
as a user who owns a Station, a landing zone and a job: no answer may be a 5xx."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from lz.hub.server.app import create_app
from lz.hub.server.config import HubConfig
from lz.hub.server.domain import accounts
from tests.unit.hub_helpers import job_tarball

pytestmark = pytest.mark.slow

_TMP = Path(tempfile.mkdtemp(prefix="lz-hub-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)
APP = create_app(HubConfig(db_url=f"sqlite:///{_TMP / 'hub.db'}", files_dir=_TMP / "files", max_claim_wait_s=0.2,
                           max_upload_bytes=1 << 20))


def _seed() -> str:
    hub = APP.state.hub

    def _add(conn: Any) -> str:
        accounts.add_user(conn, "alice", False, time.time())
        return accounts.create_token(conn, "alice", time.time())[1]

    token = str(hub.write(_add))
    with TestClient(APP) as client:
        auth = {"Authorization": f"Bearer {token}"}
        client.post("/api/v1/stations", json={"name": "s1"}, headers=auth)
        client.post("/api/v1/lz/register", json={"name": "lz1"}, headers=auth)
        client.put("/api/v1/stations/s1/zones/lz1", headers=auth)
        client.post("/api/v1/stations/s1/jobs", params={"key": "seedseed"}, content=job_tarball(), headers=auth)
    return token


TOKEN = _seed()
# revoking tokens is fuzzed as another user (whose DELETE of alice's token 1 is a 404), so that the
# run goes on as alice rather than 401 after a generated ``DELETE /api/v1/tokens/1``
OTHER = str(APP.state.hub.write(lambda conn: (accounts.add_user(conn, "mallory", False, time.time()),
                                              accounts.create_token(conn, "mallory", time.time())[1])[1]))


@schemathesis.serializer("application/gzip", "application/x-tar")
def _binary(_ctx: Any, value: Any) -> bytes:
    """Uploads are binary: whatever the generator made, as bytes (a few are real job tarballs)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx(case: Any) -> None:
    token = OTHER if case.method.upper() == "DELETE" and case.path.startswith("/api/v1/tokens/") else TOKEN
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
