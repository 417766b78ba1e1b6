"""Several hub hosts behind a real load balancer (issue 22): two `lz hub serve` processes with
state folders of their own and no shared disk, on one PostgreSQL and one S3 server (moto's
standalone server, tests/s3_server.py), Debian's nginx in front of them running
deploy/nginx/lz-hub.conf with a server line per hub, and landing zones and the user talking only
to nginx. The soak's chaos kills a hub first, once a quarter of the jobs began and the others are still to
be claimed (then zones, machines and hubs at random); every soak column must be 0: nothing lost,
run twice, stuck, wrong or left behind."""

import json
import os
from pathlib import Path

import pytest

from tests.integration.hub_soak import run_soak
from tests.integration.tls_proxy import require
from tests.s3_server import S3Server

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.timeout(900)
def test_two_hubs_behind_nginx_lose_nothing_when_one_is_killed(tmp_path: Path, postgres_url: str,
                                                                s3_server: S3Server) -> None:
    require("nginx")
    result = run_soak(tmp_path, jobs=int(os.environ.get("LZ_BALANCED_JOBS", "24")), zones=3, hubs=2,
                      db_url=postgres_url, seed=int(os.environ.get("LZ_SOAK_SEED", "2")), timeout_s=600,
                      balanced=True, store=s3_server.url(s3_server.new_bucket()))
    print("balanced hubs:", json.dumps(result.columns()))
    assert result.kills["hub"] >= 1, result.kills  # a hub really died under the balancer,
    # mid-run: jobs were still to be claimed through it (the kill waits for a quarter of the jobs
    # to begin, not for a delay, after which the jobs may all be done)
    assert result.unstarted_at_first_event, result.columns()
    result.check()
