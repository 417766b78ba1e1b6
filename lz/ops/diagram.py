"""Draw both lifecycles from their own tables, never by hand: the landing zone's job
(``lz.core.machine``) and the hub's job (``lz.hub.protocol.lifecycle``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from lz.core.machine import MACHINE
from lz.hub.protocol import lifecycle

DIAGRAM_NAME = "job_lifecycle"
HUB_DIAGRAM_NAME = "hub_job"
PICTURES: dict[str, tuple[dict[str, Any], str]] = {
    DIAGRAM_NAME: (MACHINE, "lz job lifecycle"),
    HUB_DIAGRAM_NAME: (lifecycle.MACHINE, "lz hub job lifecycle"),
}
# the hub's web page marks a job's state on this copy (the package carries it; state_diagrams/ is
# the repository's)
PAGE_COPY = Path(__file__).resolve().parents[1] / "hub" / "server" / "web" / "static" / f"{DIAGRAM_NAME}.svg"


def dot_source(name: str = DIAGRAM_NAME) -> str:
    """Graphviz source of one lifecycle, deterministic so a test can compare it."""
    from transitions.extensions import GraphMachine

    class _Picture:
        """A model only so the machine has something to draw."""

    machine, title = PICTURES[name]
    model = _Picture()
    GraphMachine(model=model, **machine, show_conditions=True, title=title, graph_engine="graphviz")
    graph = model.get_graph()  # type: ignore[attr-defined]
    return str(graph.source).rstrip() + "\n"


def write(directory: Path, render_svg: bool = True) -> list[Path]:
    """Write ``<name>.gv`` (and ``<name>.svg`` when Graphviz's ``dot`` exists) for each lifecycle;
    return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in PICTURES:
        source_path = directory / f"{name}.gv"
        source_path.write_text(dot_source(name))
        written.append(source_path)
        if not render_svg:
            continue
        try:
            svg = subprocess.run(["dot", "-Tsvg", str(source_path)], capture_output=True, check=True,
                                 timeout=60).stdout
        except FileNotFoundError:
            continue
        svg_path = directory / f"{name}.svg"
        svg_path.write_bytes(svg)
        written.append(svg_path)
        if name == DIAGRAM_NAME and PAGE_COPY.parent.is_dir() and os.access(PAGE_COPY.parent, os.W_OK):
            PAGE_COPY.write_bytes(svg)  # a source checkout
            written.append(PAGE_COPY)
    return written
