"""Version order for the hub's min_version/latest_version (issue 24, packaging): versions now come
from git tags, so landing zones run development builds. ``0.1.1.dev281+g…`` (before 0.1.1) used to
count as 0.1.1.281, at or above 0.1.1: a build older than the hub's minimum was let in."""

import pytest

from lz.hub.protocol.versions import below


@pytest.mark.parametrize(("older", "newer"), [
    ("0.9", "0.10"),
    ("0.1.0", "0.1.1.dev3+g1a2b3c"),  # four commits after 0.1.0
    ("0.1.1.dev281+ga328fb2.d20261206", "0.1.1"),
    ("0.1.1.dev2", "0.1.1.dev10"),
    ("0.2.0rc1", "0.2.0"),
    ("0.2.0a1", "0.2.0b1"),
    ("0.2.0", "0.2.0.post1"),
    ("v1.2", "1.2.1"),
])
def test_order(older: str, newer: str) -> None:
    assert below(older, newer) and not below(newer, older)


def test_the_local_part_does_not_count() -> None:
    assert not below("0.2.0+gabc", "0.2.0") and not below("0.2.0", "0.2.0+gabc")
