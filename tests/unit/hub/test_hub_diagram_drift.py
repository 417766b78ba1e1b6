"""The committed hub job diagram must be the one its table draws (state_diagrams/hub_job.*, `lz diagram`)."""

import pytest

from lz.hub.protocol.lifecycle import PHASES, TRANSITIONS, parts
from tests.paths import ROOT


def test_committed_diagram_matches_the_table() -> None:
    pytest.importorskip("graphviz")
    from lz.ops.diagram import HUB_DIAGRAM_NAME, dot_source

    committed = (ROOT / "state_diagrams" / f"{HUB_DIAGRAM_NAME}.gv").read_text()
    assert committed == dot_source(HUB_DIAGRAM_NAME), "state_diagrams/hub_job.gv is stale: run `lz diagram`"
    assert (ROOT / "state_diagrams" / f"{HUB_DIAGRAM_NAME}.svg").stat().st_size > 0


def test_the_parts_hold_every_phase_and_every_row() -> None:
    states, edges = parts()
    assert states == PHASES
    assert {label.split(" ")[0] for _, _, label in edges} == {row["trigger"] for row in TRANSITIONS}
    assert ("pending", "leased", "claim [!paused & !ending & !waiting]") in edges
    assert ("leased", "finished", "expire [ending]") in edges
