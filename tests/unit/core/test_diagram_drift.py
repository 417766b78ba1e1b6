"""The committed diagram must be the one the machine draws (regenerate with `lz diagram`)."""


import pytest

pytest.importorskip("graphviz")

from lz.ops.diagram import DIAGRAM_NAME, dot_source  # noqa: E402
from tests.paths import ROOT


def test_committed_diagram_matches_the_machine() -> None:
    committed = (ROOT / "state_diagrams" / f"{DIAGRAM_NAME}.gv").read_text()
    assert committed == dot_source(), "state_diagrams/ is stale: run `lz diagram`"


def test_rendered_svg_is_committed() -> None:
    assert (ROOT / "state_diagrams" / f"{DIAGRAM_NAME}.svg").stat().st_size > 0


def test_the_web_pages_copy_is_the_committed_one() -> None:
    from lz.ops.diagram import PAGE_COPY

    assert PAGE_COPY.read_bytes() == (ROOT / "state_diagrams" / f"{DIAGRAM_NAME}.svg").read_bytes(), \
        "lz/hub/server/web/static/job_lifecycle.svg is stale: run `lz diagram`"
