"""One hostile-client world (a real hub process and its actors) per test session: starting a hub
and its accounts takes seconds, the attacks themselves less."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.world import World

GROUP = "hostile-hub"  # every test of the suite on one xdist worker: one hub for all of them


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("security"):
            item.add_marker(pytest.mark.xdist_group(GROUP))


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    hub = World(tmp_path_factory.mktemp("hostile-hub"))
    try:
        yield hub
    finally:
        errors = hub.server_errors()
        hub.stop()
    assert errors == [], "the hub answered 5xx:\n" + "\n".join(errors[:20])
