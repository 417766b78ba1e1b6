"""Two hub processes on one PostgreSQL and four landing zones claiming 500 trivial jobs: each job
claimed by exactly one live lease at a time, none lost. CI runs ``LZ_FLEET_JOBS`` of them (100:
the same races between the two hubs and the four claimers, sooner); ``python3 bench/hub_throughput.py
--only postgres`` prints the figure of the full size."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.hub_fleet import check_fleet, run_fleet, summary

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.timeout(1200)  # 500 jobs took 5 minutes and more on the 2-core machine
def test_two_hubs_on_postgresql_four_landing_zones_500_jobs(tmp_path: Path, postgres_url: str) -> None:
    result = run_fleet(tmp_path, db_url=postgres_url, hubs=2, zones=4, jobs=int(os.environ.get("LZ_FLEET_JOBS", "500")))
    print(summary(result))
    check_fleet(result)
    assert set(result.per_zone) == {"lz0", "lz1", "lz2", "lz3"}  # all four took work
