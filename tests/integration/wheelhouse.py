"""A wheelhouse made from the distributions installed in this test venv, so a fresh venv can
install lz's wheel with ``pip --no-index --find-links`` (offline, and no download each run).

An installed distribution's files (its RECORD, less what lives outside site-packages: pip writes
the console scripts again from entry_points.txt) zipped again under its own WHEEL tags."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

_NOT_REPACKED = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}


def requirement_names(requires: Iterable[str]) -> list[str]:
    """The names of the requirements without an extra marker (the base install)."""
    return [re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0] for req in requires if "extra ==" not in req]


def closure(names: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        try:
            dist = md.distribution(todo.pop())
        except md.PackageNotFoundError:
            continue  # a marker for another platform or Python
        key = dist.metadata["Name"]
        if key.lower() in {s.lower() for s in seen}:
            continue
        seen.add(key)
        todo += requirement_names(dist.requires or [])
    return seen


def repack(name: str, directory: Path) -> Path:
    dist = md.distribution(name)
    tags = [line.split(":", 1)[1].strip() for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")] or ["py3-none-any"]
    top = Path(str(dist.locate_file(""))).resolve()
    normal = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    parts = [list(dict.fromkeys(t.split("-")[i] for t in tags)) for i in range(3)]  # py2.py3-none-any
    path = directory / f"{normal}-{dist.version}-{'-'.join('.'.join(p) for p in parts)}.whl"
    record: list[str] = []
    info = None
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for rel in dist.files or []:
            src = Path(str(dist.locate_file(rel))).resolve()
            if "__pycache__" in src.parts or not src.is_file() or not src.is_relative_to(top):
                continue
            arc = src.relative_to(top).as_posix()
            if arc.split("/")[0].endswith(".dist-info"):
                info = arc.split("/")[0]
                if arc.split("/")[-1] in _NOT_REPACKED:
                    continue
            data = src.read_bytes()
            wheel.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(data)}")
        assert info is not None, f"{name}: no .dist-info among its files"
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def wheelhouse(requires: Iterable[str], directory: Path) -> list[Path]:
    """Wheels of every installed distribution the base requirements need (pip too, for the venv)."""
    directory.mkdir(parents=True, exist_ok=True)
    return [repack(name, directory) for name in sorted(closure([*requirement_names(requires), "pip"]))]
