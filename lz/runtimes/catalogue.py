"""The site's offline image catalogue: base names in recipes resolve to local images.

Cluster nodes often have no internet, so ``FROM python-3.11`` or ``From: python-3.11`` names an
entry of ``[images]`` in the landing zone's configuration (a SIF, a root-filesystem directory or a
tarball); an unknown base is refused at intake with the list of known ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from lz.errors import BundleError
from lz.job import RecipeKind
from lz.runtimes.dockerfile import instructions

SCRATCH = "scratch"
_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)
_HEADER = re.compile(r"^\s*(Bootstrap|From)\s*:\s*(\S+)\s*$", re.IGNORECASE)


class ImageCatalogue:
    def __init__(self, entries: Mapping[str, Path] | None = None, *, allow_pull: bool = False):
        self.entries = {name: Path(path) for name, path in (entries or {}).items()}
        self.allow_pull = allow_pull

    def resolve(self, name: str) -> Path | None:
        """The local image for a base name; None for ``scratch`` or a pull the site allows."""
        if name == SCRATCH:
            return None
        if name in self.entries:
            return self.entries[name]
        if self.allow_pull:
            return None
        known = ", ".join(sorted(self.entries)) or "none configured"
        raise BundleError(f"base image {name!r} is not in this site's catalogue (known: {known})")

    def check_recipe(self, text: str, kind: RecipeKind) -> list[str]:
        """Every base the recipe needs must resolve; returns the base names."""
        bases = bases_of(text, kind)
        for base in bases:
            self.resolve(base)
        return bases


def bases_of(text: str, kind: RecipeKind) -> list[str]:
    """The external bases a recipe names (pure). Multi-stage ``FROM stage`` references are skipped."""
    if kind == "dockerfile":
        stages: set[str] = set()
        bases: list[str] = []
        for line in instructions(text):
            match = _FROM.match(line)
            if not match:
                continue
            image, alias = match.group(1), match.group(2)
            if image.lower() not in stages and image not in bases:
                bases.append(image)
            if alias:
                stages.add(alias.lower())
        if not bases:
            raise BundleError("Dockerfile: no FROM line")
        return bases
    header: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip().startswith("%"):
            break
        match = _HEADER.match(line)
        if match:
            header[match.group(1).lower()] = match.group(2)
    if "bootstrap" not in header:
        raise BundleError("definition file: no 'Bootstrap:' header")
    if header["bootstrap"].lower() == "scratch":
        return [SCRATCH]
    if "from" not in header:
        raise BundleError("definition file: no 'From:' header")
    return [header["from"]]
