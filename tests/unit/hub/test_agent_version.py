"""The version a landing zone registers with fits the hub's 32 characters (a build from an edited
checkout has a longer one, and its registration was refused with a 422)."""

from __future__ import annotations

import pytest

from lz.hub.agent.agent import reported_version
from lz.hub.protocol.schemas import ZoneFacts


@pytest.mark.parametrize(("version", "reported"), [
    ("0.1.1", "0.1.1"),
    ("0.1.1.dev747+g058428d3c", "0.1.1.dev747+g058428d3c"),
    ("0.1.1.dev747+g058428d3c.d20261207", "0.1.1.dev747+g058428d3c"),
    ("0.1.1.dev747+" + "g" * 40, "0.1.1.dev747"),
    ("1" * 40, "1" * 32),
])
def test_a_long_version_is_cut_at_its_local_part(version: str, reported: str) -> None:
    assert reported_version(version) == reported
    ZoneFacts(name="lz1", version=reported_version(version))  # the hub's schema takes it
