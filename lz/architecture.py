"""lz's own architecture: the layers its modules belong to, and a picture of who imports whom.

Data flows down: entry points use services, services use settings and adapters, adapters use
the core, and the core uses nothing of lz but itself. ``setup.cfg``'s import-linter contract is
the enforced copy of ``LAYERS`` (a unit test keeps the two equal); ``lz deps`` redraws
``docs/architecture.{gv,svg}`` from the code, like ``lz diagram`` redraws the state machine.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("entry points", ("lz.cli", "lz.daemon")),
    ("services", ("lz.assembly", "lz.engine", "lz.steps", "lz.watcher", "lz.housekeeping", "lz.intake",
                  "lz.workspace", "lz.sources", "lz.zone_lock", "lz.views", "lz.diagram", "lz.architecture", "lz.service", "lz.hub",
                  "lz.config_reference", "lz.doctor", "lz.control")),
    ("settings", ("lz.config",)),
    ("adapters", ("lz.store", "lz.executors", "lz.runtimes", "lz.slurm", "lz.collect", "lz.collect_tree", "lz.walk", "lz.changes", "lz.archive",
                  "lz.manifest", "lz.results",
                  "lz.bundle", "lz.tar_reader", "lz.spec_file", "lz.capacity", "lz.process", "lz.fs", "lz.workpool", "lz.metrics", "lz.faults",
                  "lz.logfile")),
    ("core", ("lz.job", "lz.machine", "lz.rules", "lz.events", "lz.zone", "lz.backoff", "lz.layout", "lz.timeline", "lz.volumes",
              "lz.resources", "lz.errors")),
]
PICTURE_NAME = "architecture"
_COLOURS = {"entry points": "#f4cccc", "services": "#fce5cd", "settings": "#fff2cc", "adapters": "#d9ead3",
            "core": "#cfe2f3"}


def package_root() -> Path:
    return Path(__file__).resolve().parent


def unit_of(module: str) -> str:
    """The layer entry a module belongs to (``lz.store.jobs`` -> ``lz.store``)."""
    for _, units in LAYERS:
        for unit in units:
            if module == unit or module.startswith(unit + "."):
                return unit
    return module


def imports(root: Path | None = None) -> dict[str, set[str]]:
    """unit -> the lz units it imports (at any depth of its modules, lazy imports included)."""
    root = root or package_root()
    edges: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = unit_of(module)
        targets = edges.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name.startswith("lz.") and unit_of(name) != source and unit_of(name) in _ALL_UNITS:
                    targets.add(unit_of(name))
    return edges


_ALL_UNITS = {unit for _, units in LAYERS for unit in units}


def dot_source(root: Path | None = None) -> str:
    """Graphviz source: one box per unit, clustered by layer, an arrow per import (deterministic)."""
    edges = imports(root)
    lines = ["digraph lz {", '  rankdir=TB; node [shape=box, style="rounded,filled", fontname="Helvetica"];',
             '  label="lz: modules by layer (arrows: imports)"; labelloc=t;']
    for index, (layer, units) in enumerate(LAYERS):
        lines.append(f'  subgraph cluster_{index} {{ label="{layer}"; color="#999999";')
        for unit in units:
            lines.append(f'    "{unit}" [label="{unit.removeprefix("lz.")}", fillcolor="{_COLOURS[layer]}"];')
        lines.append("  }")
    for source in sorted(edges):
        for target in sorted(edges[source]):
            lines.append(f'  "{source}" -> "{target}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def write(directory: Path) -> list[Path]:
    """Write ``architecture.gv`` (and ``.svg`` when Graphviz's ``dot`` exists); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    source_path = directory / f"{PICTURE_NAME}.gv"
    source_path.write_text(dot_source())
    written = [source_path]
    try:
        svg = subprocess.run(["dot", "-Tsvg", str(source_path)], capture_output=True, check=True, timeout=60).stdout
    except FileNotFoundError:
        return written
    (directory / f"{PICTURE_NAME}.svg").write_bytes(svg)
    return [*written, directory / f"{PICTURE_NAME}.svg"]
