"""lz's own architecture: the layers its folders belong to, who imports whom, and the two things
that must never appear: an import cycle and an arrow back up.

Data flows down: entry points use services, services use the engine, intake and settings,
those use adapters, adapters use the host, and the core uses nothing of lz but itself.
``setup.cfg``'s import-linter contracts are the enforced copy of ``LAYERS`` (a unit test keeps the
two equal); ``lz deps`` redraws ``docs/architecture.{gv,svg}`` from the code and counts cycles and
upward arrows, like ``lz diagram`` redraws the state machines. Imports inside functions count.
"""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LAYERS: list[tuple[str, tuple[str, ...], bool]] = [
    # (name, units, independent): independent units of a layer may not import each other
    ("entry points", ("lz.cli", "lz.daemon"), False),
    ("python api", ("lz.client",), False),
    ("services", ("lz.hub.server", "lz.hub.agent", "lz.ops"), True),
    ("engine", ("lz.engine",), False),
    ("intake", ("lz.intake",), False),
    ("settings", ("lz.config",), False),
    ("adapters", ("lz.store", "lz.executors", "lz.runtimes", "lz.slurm", "lz.results", "lz.metrics", "lz.service",
                  "lz.hub.protocol"), False),
    ("host", ("lz.host",), False),
    ("core", ("lz.core",), False),
]
PICTURE_NAME = "architecture"
_COLOURS = {"entry points": "#f4cccc", "python api": "#f4cccc", "services": "#fce5cd", "engine": "#fff2cc", "intake": "#fff2cc",
            "settings": "#eeeeee", "adapters": "#d9ead3", "host": "#d0e0e3", "core": "#cfe2f3"}
_OUTSIDE = ("lz", "lz.__main__", "lz.hub", "lz.wrapper")  # the package roots and the wrapper's data folder


def package_root() -> Path:
    return Path(__file__).resolve().parents[1]


def layer_contract_lines() -> list[str]:
    """The ``layers`` of setup.cfg's contract, top first (``|``: independent, ``:``: siblings)."""
    return [(" | " if independent else " : ").join(units) for _, units, independent in LAYERS]


def unit_of(module: str) -> str:
    """The layer unit a module belongs to (``lz.store.jobs`` -> ``lz.store``)."""
    for _, units, _ in LAYERS:
        for unit in units:
            if module == unit or module.startswith(unit + "."):
                return unit
    return module


def _rank(unit: str) -> int | None:
    for index, (_, units, _) in enumerate(LAYERS):
        if unit in units:
            return index
    return None


def modules(root: Path | None = None) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its ``__init__``)."""
    root = root or package_root()
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def module_imports(root: Path | None = None) -> dict[str, set[str]]:
    """module -> the lz modules it imports, at any depth (inside functions too; ``TYPE_CHECKING``
    blocks are skipped: they never run). ``from pkg import mod`` counts as importing ``pkg.mod``."""
    known = modules(root)
    edges: dict[str, set[str]] = {}
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        targets = edges.setdefault(module, set())
        for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, is_package, node.module, node.level)
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            for name in names:
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name.startswith("lz") and name != module:
                    targets.add(name)
    return edges


def _absolute(module: str, is_package: bool, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _runtime_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node but the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def cycles(edges: dict[str, set[str]] | None = None) -> list[list[str]]:
    """Each import cycle as a path ``[a, b, ..., a]``: one per strongly connected component of the
    module graph (Tarjan), shortest loop through its first module."""
    edges = edges if edges is not None else module_imports()
    found: list[list[str]] = []
    for component in _components(edges):
        if len(component) == 1 and component[0] not in edges.get(component[0], set()):
            continue
        found.append(_loop(component[0], set(component), edges))
    return found


def _components(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(sorted(component))
    return result


def _loop(start: str, members: set[str], edges: dict[str, set[str]]) -> list[str]:
    """The shortest path from ``start`` back to itself inside one component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges.get(node, ())):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return [start, start]


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


def arrows_up(edges: dict[str, set[str]] | None = None) -> list[Arrow]:
    """Imports from a lower layer to a higher one, or between independent units of one layer."""
    edges = edges if edges is not None else module_imports()
    wrong: list[Arrow] = []
    for source in sorted(edges):
        for target in sorted(edges[source]):
            a, b = unit_of(source), unit_of(target)
            ra, rb = _rank(a), _rank(b)
            if a == b or ra is None or rb is None:
                continue
            if rb < ra or (ra == rb and LAYERS[ra][2]):
                wrong.append(Arrow(source, target))
    return wrong


def unit_imports(root: Path | None = None) -> dict[str, set[str]]:
    """unit -> the units it imports (the picture's arrows)."""
    units: dict[str, set[str]] = {}
    for source, targets in module_imports(root).items():
        a = unit_of(source)
        if a in _OUTSIDE:
            continue
        units.setdefault(a, set()).update(unit_of(t) for t in targets if unit_of(t) not in (a, *_OUTSIDE))
    return units


def summary() -> str:
    """One line for ``lz deps``: modules, cycles, arrows back up."""
    edges = module_imports()
    return (f"{len(edges)} modules, {sum(len(t) for t in edges.values())} imports: "
            f"{len(cycles(edges))} cycles, {len(arrows_up(edges))} arrows back up")


def dot_source(root: Path | None = None) -> str:
    """Graphviz source: one box per unit, clustered by layer, an arrow per import (deterministic)."""
    edges = unit_imports(root)
    lines = ["digraph lz {", '  rankdir=TB; node [shape=box, style="rounded,filled", fontname="Helvetica"];',
             '  label="lz: folders by layer (arrows: imports)"; labelloc=t;']
    for index, (layer, units, _) in enumerate(LAYERS):
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
