"""Draw the job lifecycle from its own definition (``lz.core.machine``), never by hand."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lz.core.machine import MACHINE

DIAGRAM_NAME = "job_lifecycle"
# the hub's web page marks a job's state on this copy (the package carries it; state_diagrams/ is
# the repository's)
PAGE_COPY = Path(__file__).resolve().parents[1] / "hub" / "server" / "web" / "static" / f"{DIAGRAM_NAME}.svg"


def dot_source() -> str:
    """Graphviz source of the job machine, deterministic so a test can compare it."""
    from transitions.extensions import GraphMachine

    class _Picture:
        """A model only so the machine has something to draw."""

    model = _Picture()
    GraphMachine(
        model=model,
        **MACHINE,
        show_conditions=True,
        title="lz job lifecycle",
        graph_engine="graphviz",
    )
    graph = model.get_graph()  # type: ignore[attr-defined]
    return str(graph.source).rstrip() + "\n"


def write(directory: Path, render_svg: bool = True) -> list[Path]:
    """Write ``<name>.gv`` (and ``<name>.svg`` when Graphviz's ``dot`` exists); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    source_path = directory / f"{DIAGRAM_NAME}.gv"
    source_path.write_text(dot_source())
    written = [source_path]
    if render_svg:
        svg_path = directory / f"{DIAGRAM_NAME}.svg"
        try:
            svg = subprocess.run(
                ["dot", "-Tsvg", str(source_path)], capture_output=True, check=True, timeout=60
            ).stdout
        except FileNotFoundError:
            return written
        svg_path.write_bytes(svg)
        written.append(svg_path)
        if PAGE_COPY.parent.is_dir() and os.access(PAGE_COPY.parent, os.W_OK):  # a source checkout
            PAGE_COPY.write_bytes(svg)
            written.append(PAGE_COPY)
    return written
