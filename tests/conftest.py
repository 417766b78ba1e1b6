"""Session-wide pieces: the figures of the fault, outage and property suites (printed at the end),
a throwaway PostgreSQL cluster for the hub's tests, and a temporary directory of its own for each
xdist worker, so one worker's scratch is never another's trace. (``scripts/test`` gives each of its
two process-level streams a TMPDIR of its own the same way.)"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests import figures

_OWN_TMP = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    # what each test's no-trace check lists is then this worker's own scratch, plus /tmp and
    # /var/tmp, which no other worker writes to; 0711: the PostgreSQL cluster's owner
    # (another account) must reach its folder inside
    own = tempfile.mkdtemp(prefix=f"lz-tests-{worker}-")
    os.chmod(own, 0o711)
    config.stash[_OWN_TMP] = own
    os.environ["TMPDIR"] = own
    tempfile.tempdir = None


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_TMP, None)
    if own:
        shutil.rmtree(own, ignore_errors=True)


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
