"""Rejections racing a fast-ticking daemon (issue 8, defect 5): intake used to commit a bad job
as ``received`` and reject it in a second transaction, and a tick in between built it (9 of 150
at a fast tick) while the CLI printed a state error instead of the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from lz.config import load_settings
from lz.intake.receive import Rejected, receive
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import needs_upgrade, upgrade
from tests.integration.landing_zone import LandingZone
from tests.unit.corpus import report_to, tried

pytestmark = pytest.mark.integration


def test_no_rejected_job_is_ever_picked_up(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    report_to(request.config)
    lz = LandingZone(tmp_path / "lz", tick=0.02)
    lz.start()
    try:
        settings = load_settings(lz.config, environ=lz.env)
        engine = make_engine(settings.db)
        if needs_upgrade(engine):  # as the CLI does: the daemon may still be migrating
            upgrade(engine)
        store = JobStore(engine)
        rejected, reasons = [], set()
        for i in range(150):
            folder = tmp_path / "jobs" / f"bad{i}"
            folder.mkdir(parents=True)
            (folder / "Dockerfile").write_text("FROM busybox\n")  # runtime none: a command is required
            tried()
            try:
                receive(store, settings, folder)
            except Rejected as exc:
                rejected.append(exc.job.id)
                reasons.add(str(exc))
            else:
                raise AssertionError("a job without a command was accepted")
        assert reasons == {"lz.toml: this landing zone runs jobs without a container, so `command` is required"}
        for job_id in rejected:
            history = [(t.from_state, t.to_state, t.event) for t in store.history(job_id)]
            assert history == [("", "received", "receive"), ("received", "cleaned", "reject")], (job_id, history)
            assert not (settings.workdir / job_id).exists()
        assert lz.leftovers() == []
    finally:
        lz.stop()
