"""Draw the hub job's lifecycle from its own table (``lifecycle.MACHINE``), never by hand.

``lz diagram`` draws the local lifecycle by giving ``lz.machine.MACHINE`` to the ``transitions``
library's ``GraphMachine``; the hub job is drawn the same way from this module's ``DIAGRAM_NAME``,
``TITLE`` and ``lifecycle.MACHINE``, so both pictures in ``state_diagrams/`` look alike.
``parts`` gives the same table as plain states and labelled edges for anything else that draws.
"""

from __future__ import annotations

from lz.hub.protocol.lifecycle import MACHINE, PHASES, TRANSITIONS

DIAGRAM_NAME = "hub_job"
TITLE = "lz hub job lifecycle"


def parts() -> tuple[list[str], list[tuple[str, str, str]]]:
    """The phases and the edges (source, dest, label), a label being the trigger and its
    conditions as the ``transitions`` library writes them (``claim [!paused & !ending]``)."""
    edges = []
    for row in TRANSITIONS:
        sources = [row["source"]] if isinstance(row["source"], str) else row["source"]
        guards = [*_listed(row.get("conditions")), *(f"!{c}" for c in _listed(row.get("unless")))]
        label = row["trigger"] + (f" [{' & '.join(guards)}]" if guards else "")
        edges += [(source, source if row["dest"] == "=" else row["dest"], label) for source in sources]
    return list(PHASES), edges


def hub_lifecycle_dot() -> str:
    """Graphviz source of the hub job's machine, deterministic so a test can compare it."""
    from transitions.extensions import GraphMachine

    class _Picture:
        """A model only so the machine has something to draw."""

    model = _Picture()
    GraphMachine(model=model, **MACHINE, show_conditions=True, title=TITLE, graph_engine="graphviz")
    graph = model.get_graph()  # type: ignore[attr-defined]
    return str(graph.source).rstrip() + "\n"


def _listed(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)
