"""One hostile-client world (a real hub process and its actors) per test session: starting a hub
and its accounts takes seconds, the attacks themselves less."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.security.world import World

GROUP = "hostile-hub"  # every test of the suite on one xdist worker: one hub for all of them


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("security"):
            item.add_marker(pytest.mark.xdist_group(GROUP))


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[World]:
    """The hub keeps bundles and results in a folder, or with ``LZ_SECURITY_STORE=s3`` in a bucket
    of a real S3 server (``tests.s3_server``): the same attacks against the other backend."""
    store = None
    if os.environ.get("LZ_SECURITY_STORE") == "s3":
        server = request.getfixturevalue("s3_server")
        store = str(server.url(server.new_bucket()))
    hub = World(tmp_path_factory.mktemp("hostile-hub"), store=store)
    try:
        yield hub
    finally:
        errors = hub.server_errors()
        hub.stop()
    assert errors == [], "the hub answered 5xx:\n" + "\n".join(errors[:20])
