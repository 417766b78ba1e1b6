"""The architecture is checked, not just drawn: import contracts hold, their layers are the ones
``lz.architecture`` names, and the committed picture is the one the code draws (``lz deps``)."""

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lz.architecture import LAYERS, PICTURE_NAME, dot_source, imports

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]


def test_contract_layers_are_the_documented_layers() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    written = [line.strip() for line in config["importlinter:contract:layers"]["layers"].strip().splitlines()]
    assert written == [" : ".join(units) for _, units in LAYERS]
    core = config["importlinter:contract:pure-core"]["source_modules"].split()
    assert core == list(LAYERS[-1][1])


def test_every_module_has_a_layer() -> None:
    units = {unit for _, group in LAYERS for unit in group}
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts[:2]) for p in (ROOT / "lz").rglob("*.py")}
    modules = {m.removesuffix(".__init__") for m in modules} - {"lz", "lz.__main__", "lz.wrapper"}
    assert modules <= units, f"give these a layer in lz.architecture.LAYERS: {sorted(modules - units)}"


def test_the_core_imports_only_the_core() -> None:
    core = set(LAYERS[-1][1])
    edges = imports()
    assert all(edges.get(unit, set()) <= core for unit in core)


def test_committed_picture_matches_the_code() -> None:
    committed = (ROOT / "docs" / f"{PICTURE_NAME}.gv").read_text()
    assert committed == dot_source(), "docs/architecture.gv is stale: run `lz deps`"
