"""The architecture is checked, not just drawn: import contracts hold, their layers are the ones
``lz.ops.architecture`` names, no module is part of an import cycle (imports inside functions
count), nothing imports upward, and the committed picture is the one the code draws (``lz deps``)."""

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lz.ops.architecture import (
    LAYERS,
    PICTURE_NAME,
    arrows_up,
    cycles,
    dot_source,
    layer_contract_lines,
    module_imports,
    unit_imports,
    unit_of,
)
from tests.paths import ROOT


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    return subprocess.run([lint, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_contract_fails_on_an_agent_importing_the_server(tmp_path: Path) -> None:
    """Break the rule on purpose in a copy of the package: the contract must notice and name it."""
    shutil.copytree(ROOT / "lz", tmp_path / "lz", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    (tmp_path / "lz" / "hub" / "agent" / "sneaky.py").write_text("from lz.hub.server import downloads  # noqa\n")
    result = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                             "sys.exit(lint_imports_command(['--no-cache']))"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "The landing zone's agent never imports the hub server BROKEN" in result.stdout
    assert "lz.hub.agent.sneaky -> lz.hub.server.downloads" in result.stdout


def test_contract_layers_are_the_documented_layers() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    written = [line.strip() for line in config["importlinter:contract:layers"]["layers"].strip().splitlines()]
    assert written == layer_contract_lines()
    core = config["importlinter:contract:pure-core"]["source_modules"].split()
    assert core == list(LAYERS[-1][1])


def test_every_module_has_a_layer() -> None:
    units = {unit for _, group, _ in LAYERS for unit in group}
    homeless = {unit_of(m) for m in module_imports()} - units - {"lz", "lz.__main__", "lz.hub", "lz.wrapper"}
    assert not homeless, f"give these a layer in lz.ops.architecture.LAYERS: {sorted(homeless)}"


def test_no_import_cycles_anywhere() -> None:
    found = cycles()
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_a_cycle_is_found_and_shown() -> None:
    edges = {"lz.a": {"lz.b"}, "lz.b": {"lz.c"}, "lz.c": {"lz.a"}, "lz.d": {"lz.a"}}
    assert cycles(edges) == [["lz.a", "lz.b", "lz.c", "lz.a"]]
    assert cycles({"lz.a": {"lz.b"}, "lz.b": set()}) == []


def test_no_arrow_goes_back_up() -> None:
    wrong = arrows_up()
    assert not wrong, "imports against the layers:\n" + "\n".join(map(str, wrong))


def test_an_arrow_up_is_found() -> None:
    assert [str(a) for a in arrows_up({"lz.core.job": {"lz.engine.tick"}})] == ["lz.core.job -> lz.engine.tick"]
    assert [str(a) for a in arrows_up({"lz.hub.agent.x": {"lz.hub.server.y"}})] == ["lz.hub.agent.x -> lz.hub.server.y"]


def test_the_core_imports_only_the_core() -> None:
    core = set(LAYERS[-1][1])
    edges = unit_imports()
    assert all(edges.get(unit, set()) <= core for unit in core)


def test_committed_picture_matches_the_code() -> None:
    committed = (ROOT / "docs" / f"{PICTURE_NAME}.gv").read_text()
    assert committed == dot_source(), "docs/architecture.gv is stale: run `lz deps`"
