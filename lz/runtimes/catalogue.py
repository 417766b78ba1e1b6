"""The site's offline image catalogue: base names in recipes resolve to local images.

Cluster nodes often have no internet, so ``FROM python-3.11`` or ``From: python-3.11`` names an
entry of ``[images]`` in the landing zone's configuration (a SIF, a root-filesystem directory or a
tarball); an unknown base is refused at intake with the list of known ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from lz.core.errors import BundleError
from lz.core.job import RecipeKind
from lz.runtimes.dockerfile import instructions

SCRATCH = "scratch"
"""The empty base: always allowed, never looked up."""

REMOTE_AGENTS = ("docker", "library", "oras", "shub")
"""Definition bootstraps whose ``From:`` names an image (looked up in the catalogue by that name)."""

_FROM = re.compile(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)
_ARG = re.compile(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$", re.IGNORECASE)
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_HEADER = re.compile(r"^\s*([A-Za-z]+)\s*:\s*(.*?)\s*$")


class ImageCatalogue:
    """Names a recipe may use as its base, each a local image; ``allow_pull`` lets unknown names
    through to the runtime (which then needs a registry)."""

    def __init__(self, entries: Mapping[str, Path | str] | None = None, *, allow_pull: bool = False):
        self.entries = {name: Path(path) for name, path in (entries or {}).items()}
        self.allow_pull = allow_pull

    def names(self) -> list[str]:
        return sorted(self.entries)

    def resolve(self, name: str) -> Path | None:
        """The local image for a base name; None for ``scratch`` or a pull the site allows."""
        if name == SCRATCH:
            return None
        if name in self.entries:
            return self.entries[name]
        if self.allow_pull:
            return None
        known = ", ".join(self.names()) or "none configured"
        raise BundleError(f"base image {name!r} is not in this site's catalogue (known: {known})")

    def check_recipe(self, text: str, kind: RecipeKind) -> list[str]:
        """Every base the recipe needs must resolve (intake calls this); returns the base names."""
        bases = bases_of(text, kind)
        for base in bases:
            self.resolve(base)
        return bases


def base_of(text: str, kind: RecipeKind) -> str:
    """The base the recipe's final image starts from (pure).

    In a multi-stage Dockerfile a stage built ``FROM`` an earlier stage has that stage's base.
    """
    if kind == "dockerfile":
        return dockerfile_stages(text)[-1][1]
    return _definition_stages(text)[-1]


def bases_of(text: str, kind: RecipeKind) -> list[str]:
    """Every external base the recipe needs, in order, without duplicates (pure)."""
    if kind == "dockerfile":
        stages = dockerfile_stages(text)
        return list(dict.fromkeys(base for _, base, _ in stages))
    return list(dict.fromkeys(_definition_stages(text)))


def dockerfile_stages(text: str) -> list[tuple[str, str, str | None]]:
    """(image named by FROM, external base it stands for, stage alias) per stage.

    ``ARG`` defaults declared before the first FROM are substituted into FROM, as Docker does.
    """
    args: dict[str, str] = {}
    aliases: dict[str, str] = {}
    stages: list[tuple[str, str, str | None]] = []
    for line in instructions(text):
        if not stages and (arg := _ARG.match(line)):
            args[arg.group(1)] = arg.group(2).strip("\"'")
            continue
        match = _FROM.match(line)
        if not match:
            if line.split(" ", 1)[0].upper() == "FROM":
                raise BundleError(f"Dockerfile: cannot read {line!r}")
            continue
        image = _VARIABLE.sub(lambda m: args.get(m.group(1) or m.group(2), m.group(0)), match.group(1))
        base = aliases.get(image.lower(), image)
        alias = match.group(2)
        if alias:
            aliases[alias.lower()] = base
        stages.append((image, base, alias))
    if not stages:
        raise BundleError("Dockerfile: no FROM line")
    return stages


def _definition_stages(text: str) -> list[str]:
    """The base name of each stage of a Singularity/Apptainer definition.

    A ``Bootstrap:`` line starts a stage's header, a ``%section`` line ends it. For
    ``Bootstrap: localimage`` the catalogue name is the last component of ``From:``'s path.
    """
    stages: list[dict[str, str]] = []
    in_header = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("%"):
            in_header = False
            continue
        if not stripped or stripped.startswith("#"):
            continue
        match = _HEADER.match(line)
        if not match:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key == "bootstrap":
            stages.append({"bootstrap": value.lower()})
            in_header = True
        elif in_header and key not in stages[-1]:
            stages[-1][key] = value
    if not stages:
        raise BundleError("definition file: no 'Bootstrap:' header")
    return [_definition_base(stage) for stage in stages]


def _definition_base(header: Mapping[str, str]) -> str:
    agent = header["bootstrap"]
    if agent == SCRATCH:
        return SCRATCH
    if agent not in (*REMOTE_AGENTS, "localimage"):
        raise BundleError(f"definition file: 'Bootstrap: {agent}' needs the network; use "
                          "'Bootstrap: localimage' with one of the site's images")
    source = header.get("from", "")
    if not source:
        raise BundleError("definition file: no 'From:' header")
    if agent == "localimage":
        name = Path(source).name
        return name[: -len(".sif")] if name.endswith(".sif") else name
    return source
