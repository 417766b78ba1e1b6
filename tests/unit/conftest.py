from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _keep_the_umask() -> Iterator[None]:
    """CLI commands set the process umask (lz's files are private); in-process CliRunner tests
    must not leave it changed for the tests after them (manifests compare permissions)."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)
