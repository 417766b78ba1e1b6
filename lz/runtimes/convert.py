"""Recipes in the other runtime's language, with the ``spython`` converters.

What cannot be converted is reported as warnings (written to the build log), never dropped
silently.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from lz.runtimes.dockerfile import instructions

_DOCKER_SUPPORTED = {"FROM", "RUN", "ENV", "COPY", "ADD", "WORKDIR", "CMD", "ENTRYPOINT", "LABEL", "ARG"}
_DEF_SUPPORTED = {"post", "environment", "runscript", "files", "labels"}
_HEADER = re.compile(r"^\s*(Bootstrap|From)\s*:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


def dockerfile_to_definition(text: str, local_base: Path | None = None) -> tuple[str, list[str]]:
    """A Singularity/Apptainer definition for a Dockerfile; ``local_base`` is the catalogue's image."""
    from spython.main.parse.parsers import DockerParser
    from spython.main.parse.writers import SingularityWriter

    warnings = [f"Dockerfile: {kw} is not supported by Apptainer/Singularity and is ignored"
                for kw in sorted({_keyword(line) for line in instructions(text)} - _DOCKER_SUPPORTED - {""})]
    recipe = _parse(DockerParser, text, "Dockerfile")
    definition = SingularityWriter(recipe).convert()
    definition = definition.replace("exec /bin/bash ", "exec ")  # spython assumes bash; images may lack it
    if local_base is not None:
        definition = _set_header(definition, "localimage", str(local_base))
    return definition, warnings


def definition_to_dockerfile(text: str) -> tuple[str, list[str]]:
    """A Dockerfile for a definition (the base keeps its name; the catalogue resolves it)."""
    from spython.main.parse.parsers import SingularityParser
    from spython.main.parse.writers import DockerWriter

    sections = {m.group(1).lower() for m in re.finditer(r"^\s*%(\w+)", text, re.MULTILINE)}
    warnings = [f"definition: %{name} has no Dockerfile equivalent and is ignored"
                for name in sorted(sections - _DEF_SUPPORTED)]
    header = {m.group(1).lower(): m.group(2) for m in _HEADER.finditer(text.split("%", 1)[0])}
    base = header.get("from", "scratch")
    if header.get("bootstrap", "").lower() not in ("docker", "localimage", "library", "oras", "shub"):
        warnings.append(f"definition: Bootstrap: {header.get('bootstrap')} is treated as an image name")
    text = _set_header(text, "docker", Path(base).name if "/" in base else base)
    recipe = _parse(SingularityParser, text, "Singularity")
    return DockerWriter(recipe).convert(), warnings


def _parse(parser: type, text: str, filename: str) -> object:
    with tempfile.TemporaryDirectory(prefix="lz-convert-") as tmp:
        path = Path(tmp) / filename
        path.write_text(text)
        try:
            return parser(str(path)).recipe
        except (NotImplementedError, ValueError, IndexError) as exc:
            from lz.errors import BuildError

            raise BuildError(f"cannot convert the {filename}: {exc}") from None


def _set_header(text: str, bootstrap: str, base: str) -> str:
    body = _HEADER.sub("", text.split("%", 1)[0]).strip("\n")
    rest = text[len(text.split("%", 1)[0]):]
    lines = [f"Bootstrap: {bootstrap}", f"From: {base}"] + ([body] if body.strip() else [])
    return "\n".join(lines) + "\n\n" + rest


def _keyword(line: str) -> str:
    return line.strip().split(" ", 1)[0].upper() if line.strip() else ""
