from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the session (skips where Debian's postgresql is missing)."""
    from tests.postgres_cluster import PostgresCluster, available

    if not available():
        pytest.skip("PostgreSQL 15 (Debian's postgresql package) is not installed")
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.stop()
