"""A landing zone trusts its hub with work, never with its files: what a hub answers to a claim
names local files (the bundle in the incoming area, the results archive in the outgoing one),
so a claim whose id or attempt is not the hub's own form is refused before anything is written
(issue 21, suspected: claim ids used unvalidated in local paths)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from lz.config import Settings
from lz.hub.agent import outbox
from lz.hub.agent.agent import HubAgent
from lz.hub.agent.options import AgentOptions
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade


def _bundle() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b'command = ["true"]\n'
        info = tarfile.TarInfo("job/lz.toml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class HostileHub:
    """A hub that answers one claim with ``jobs``, then serves any bundle asked for."""

    url = "http://hub.test"

    def __init__(self, jobs: list[Any]):
        self.jobs = jobs
        self.agent: HubAgent | None = None
        self.downloads: list[Path] = []

    def post(self, path: str, payload: Any = None, **_: Any) -> Any:
        if path == "/api/v1/lz/claim":
            assert self.agent is not None
            self.agent._stop.set()  # one claim, then the claimer's loop ends
            return {"lease_s": 30.0, "jobs": self.jobs}
        return {"ok": True, "acknowledged_seq": 0}

    def download(self, path: str, dest: Path, **_: Any) -> None:
        self.downloads.append(Path(dest))
        Path(dest).write_bytes(_bundle())


def _agent(tmp_path: Path, hub: HostileHub) -> HubAgent:
    settings = Settings(db=tmp_path / "zone" / "state" / "lz.db", workdir=tmp_path / "zone" / "work",
                        runtime="none", name="lz1")
    settings.db.parent.mkdir(parents=True)
    engine = make_engine(settings.db)
    upgrade(engine)
    agent = HubAgent(AgentOptions("http://hub.test", tmp_path / "token", 2), hub, JobStore(engine), settings,
                     wake=lambda: None)
    hub.agent = agent
    for area in (agent.incoming, agent.outgoing):
        area.mkdir(parents=True, exist_ok=True)
    return agent


def _everything(root: Path) -> set[Path]:
    return {Path(folder) / name for folder, _dirs, names in os.walk(root) for name in names}


@pytest.mark.parametrize("bad", [
    {"id": "../../../x", "attempt": 1},
    {"id": "0123abcd", "attempt": "1/../../../../x"},
    {"id": "/tmp/x", "attempt": 1},
    {"id": "0123abcd", "attempt": 0},
    {"id": "0123abcd", "attempt": 1, "spec": "not a dict"},
    {"id": "0123abcd"},
    "not even an object",
])
def test_a_claim_whose_id_or_attempt_could_name_another_file_is_refused(tmp_path: Path, bad: Any) -> None:
    good = {"id": "00ff", "attempt": 2, "name": "fine", "spec": {}, "lease_expires": 1.0}
    claim = {"name": "evil", "spec": {}, "lease_expires": 1.0, **bad} if isinstance(bad, dict) else bad
    hub = HostileHub([claim, good])
    agent = _agent(tmp_path, hub)
    agent._claimer()
    assert [(c.hub_job_id, c.attempt) for c in outbox.claims(agent.engine)] == [("00ff", 2)]  # the good one kept
    agent._stop.clear()
    agent.sync_once()
    state = agent.settings.state_dir
    assert all(p.resolve().is_relative_to(agent.incoming) for p in hub.downloads), hub.downloads
    outside = {p for p in _everything(tmp_path) if not p.resolve().is_relative_to(tmp_path / "zone")}
    assert outside == set()
    assert state.is_relative_to(tmp_path / "zone")
