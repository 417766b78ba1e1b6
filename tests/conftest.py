"""Session-wide pieces: the figures of the fault, outage and property suites (printed at the end),
a throwaway PostgreSQL cluster for the hub's tests, and what lets the process-level tests run in
two streams (``scripts/test``): every test that drives the one real Slurm in one xdist group, and
each worker a temporary directory of its own, so one stream's scratch is never the other's trace."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests import figures

SLURM_GROUP = "slurm"
"""The xdist group of the tests that drive the dev cluster: one at a time, as they stop its
controller, kill its slurmd and check its queue is left empty."""
_OWN_TMP = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    # what each test's no-trace check lists is then this worker's own scratch, plus /tmp and
    # /var/tmp, which no test of either stream writes to; 0711: the PostgreSQL cluster's owner
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The Slurm tests first (the longest stream starts at once) and as one xdist group."""
    slurm = [item for item in items if item.get_closest_marker("slurm")]
    for item in slurm:
        item.add_marker(pytest.mark.xdist_group(SLURM_GROUP))
    rest = [item for item in items if not item.get_closest_marker("slurm")]
    items[:] = slurm + rest


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
