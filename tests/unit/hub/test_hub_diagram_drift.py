"""The committed hub job diagram must be the one its table draws (state_diagrams/hub_job.*)."""

from pathlib import Path

import pytest

from lz.hub.protocol.lifecycle import PHASES, TRANSITIONS
from lz.hub.protocol.lifecycle_diagram import DIAGRAM_NAME, parts

ROOT = Path(__file__).resolve().parents[3]


def test_committed_diagram_matches_the_table() -> None:
    pytest.importorskip("graphviz")
    from lz.hub.protocol.lifecycle_diagram import hub_lifecycle_dot

    committed = (ROOT / "state_diagrams" / f"{DIAGRAM_NAME}.gv").read_text()
    assert committed == hub_lifecycle_dot(), "state_diagrams/hub_job.gv is stale: regenerate it"
    assert (ROOT / "state_diagrams" / f"{DIAGRAM_NAME}.svg").stat().st_size > 0


def test_the_parts_hold_every_phase_and_every_row() -> None:
    states, edges = parts()
    assert states == PHASES
    assert {label.split(" ")[0] for _, _, label in edges} == {row["trigger"] for row in TRANSITIONS}
    assert ("pending", "leased", "claim [!paused & !ending]") in edges
    assert ("leased", "finished", "expire [ending]") in edges
