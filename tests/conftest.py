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


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """A real S3 server process for the session (moto's standalone server, ``tests.s3_server``;
    skips where ``moto[server]`` and boto3 are not installed: ``pip install '.[s3,dev]'``)."""
    from tests.s3_server import S3Server, available

    if not available():
        pytest.skip("moto[server] and boto3 are not installed (pip install '.[s3,dev]')")
    server = S3Server()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_store(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store URL of a fresh bucket of the session's S3 server, its credentials in the environment."""
    from tests.s3_server import CREDENTIALS

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return str(s3_server.url(s3_server.new_bucket()))
