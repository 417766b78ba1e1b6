"""The claim query's filter is the lifecycle's ``claimable`` predicate written in SQL: both must
agree on every combination of phase, cancel request and latest control request."""

import itertools

from sqlalchemy import create_engine, insert, select

from lz.hub.protocol.lifecycle import Control, Phase, Snapshot, claimable, ending
from lz.hub.server.domain.claims import CLAIMABLE, ENDING, jobs_t
from lz.hub.server.models import HubBase


def test_the_claim_filter_is_the_lifecycle_predicate() -> None:
    engine = create_engine("sqlite://")
    HubBase.metadata.create_all(engine, tables=[jobs_t])
    combos = list(itertools.product(Phase, (False, True), (None, *Control), (None, "abc")))
    with engine.begin() as conn:
        for n, (phase, cancel, control, waiting_on) in enumerate(combos):
            conn.execute(insert(jobs_t).values(id=f"{n:03x}", station_id=1, submitter_id=1, submit_key=f"k{n}", name="j", spec="{}", bundle="", bundle_bytes=0,
                                               phase=phase.value, attempt=1, cancel_requested=cancel,
                                               control=control and control.value, state="received",
                                               created_at=0, updated_at=0, waiting_on=waiting_on))
        by_sql = set(conn.execute(select(jobs_t.c.id).where(*CLAIMABLE)).scalars())
        ending_sql = set(conn.execute(select(jobs_t.c.id).where(ENDING)).scalars())
    for n, (phase, cancel, control, waiting_on) in enumerate(combos):
        job = Snapshot(phase=phase, cancel_requested=cancel, control=control and control.value, waiting_on=waiting_on)
        assert (f"{n:03x}" in by_sql) == claimable(job), (phase, cancel, control)
        assert (f"{n:03x}" in ending_sql) == ending(job), (phase, cancel, control)
