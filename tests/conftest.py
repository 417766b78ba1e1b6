"""Session-wide pieces: the figures of the fault, outage and property suites (printed at the end)
and a throwaway PostgreSQL cluster for the hub's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    found = figures.lines()
    if found:
        terminalreporter.section("lz figures")
        for line in found:
            terminalreporter.write_line(line)


@pytest.fixture
def tenant() -> Iterator[Any]:
    """A fake Auth0 tenant on loopback (``tests.fake_tenant``), closed afterwards."""
    from tests.fake_tenant import FakeTenant

    fake = FakeTenant()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster for the session (skips where Debian's postgresql is missing)."""
    from tests.postgres_cluster import PostgresCluster, available

    if not available():
        pytest.skip("PostgreSQL 15 (Debian's postgresql package) is not installed")
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> str:
    """A fresh database of the session's cluster for one test."""
    return str(postgres_cluster.new_database())
