"""A sweep through the hub (issue 25): ``array=`` at submission travels in the claimed spec, as
one job, and the landing zone's intake turns it back into the same array."""

from __future__ import annotations

from pathlib import Path

from lz.hub.agent.agent import _overrides
from tests.unit.hub_helpers import hub_app


def test_the_array_travels_as_one_job_to_the_claiming_zone(tmp_path: Path) -> None:
    with hub_app(tmp_path) as app:
        alice = app.user("alice")
        app.station_with_zone(alice)
        refused = app.submit(alice, array="0-9%0")
        assert refused.status_code == 422 and "throttle" in refused.text
        app.submit(alice, array="0-9%4").json()
        [claimed] = app.claim(alice, "lz1")
        assert claimed["spec"]["array"] == "0-9%4"
        assert _overrides(claimed["spec"])["array"] == "0-9%4"
