"""Recipes in the other runtime's language, with the ``spython`` converters.

spython converts what it knows and turns the rest into shell lines: ``USER`` becomes ``su -`` in
``%post``, ``SHELL`` and ``ONBUILD`` become commands that fail, ``HEALTHCHECK`` becomes a
``%test`` that Apptainer runs at the end of the build, ``%post`` becomes one ``RUN`` per line
(which breaks every ``if``/``for`` and ``cd``), ``%setup`` would run on the host. So lz removes or
rewrites those before and after spython, and reports every one as a warning for the build log,
together with spython's own warnings. Nothing is dropped silently.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from lz.core.errors import BuildError
from lz.runtimes.catalogue import SCRATCH, dockerfile_stages
from lz.runtimes.dockerfile import default_command, instructions

Locate = Callable[[str], "Path | None"]
"""A base name -> its local image (None: leave the name, the runtime pulls it)."""

_KEPT = {"FROM", "RUN", "ENV", "ARG", "COPY", "ADD", "WORKDIR", "CMD", "ENTRYPOINT", "LABEL", "MAINTAINER"}
_METADATA_ONLY = {"EXPOSE", "VOLUME", "STOPSIGNAL"}  # spython keeps them as comments: no effect
_DROPPED = {
    "USER": "jobs run as the submitting user",
    "SHELL": "%post always runs /bin/sh",
    "ONBUILD": "there are no derived builds",
    "HEALTHCHECK": "it would run as %test at the end of the build",
}
_COPY_FROM = re.compile(r"^(?:COPY|ADD)\s+--from=(\S+)", re.IGNORECASE)
_SECTION = re.compile(r"^%(\w+)")
_DEF_HEADER_KEYS = {"bootstrap", "from", "stage"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

_spython_lock = threading.Lock()  # spython logs to one global logger; builds run on several threads


def dockerfile_to_definition(text: str, local_base: Path | None = None, *, locate: Locate | None = None,
                             context: Path | None = None) -> tuple[str, list[str]]:
    """A Singularity/Apptainer definition for a Dockerfile, and what did not convert.

    Each ``FROM`` stage becomes a definition stage (``Stage: <alias>``) and ``COPY --from=<stage>``
    a ``%files from <stage>`` section, so multi-stage builds run as Apptainer's own multi-stage
    builds; the last stage is the image. Bases become ``Bootstrap: localimage`` + ``From: <path>``
    when ``locate`` (or ``local_base``) gives a local image. With ``context`` (the build
    directory), ``%files`` sources become absolute paths inside it. ``ENV`` is exported in
    ``%post`` as Docker does for ``RUN``; the ``%runscript`` runs ENTRYPOINT/CMD with their
    exec-form words intact.
    """
    kept, warnings = _filter_dockerfile(text)
    if locate is None:
        locate = lambda _name: local_base  # noqa: E731
    command = default_command("\n".join(kept))
    stages = _split_stages(kept)
    names: dict[str, str] = {}  # alias (lower case) or stage index -> stage name in the definition
    parts: list[str] = []
    for index, (base, alias, lines) in enumerate(stages):
        if base.lower() in names:
            raise BuildError(f"Dockerfile: FROM {base}: a stage built on an earlier stage cannot be converted "
                             "for Apptainer/Singularity (copy from it with COPY --from instead)")
        name = _stage_name(alias, index, names)
        own: list[str] = []
        copies: list[tuple[str, list[str], str]] = []
        workdir = "/"
        for line in lines:
            keyword = _keyword(line)
            if keyword == "WORKDIR":
                workdir = posixpath.join(workdir, line.split(None, 1)[1].strip())
            if keyword in ("COPY", "ADD") and (source := _COPY_FROM.match(line)) is not None:
                copies.append(_copy_from(line, source, names, workdir))
            elif keyword not in ("CMD", "ENTRYPOINT"):
                own.append(line)
        definition, spython_warnings = _stage_definition(base, own, last=index == len(stages) - 1,
                                                         command=command)
        warnings += spython_warnings
        definition = definition.replace("Stage: spython-base", f"Stage: {name}", 1)
        copied = "".join(f"%files from {stage}\n" + "".join(f"{src} {dest}\n" for src in sources)
                         for stage, sources, dest in copies)
        head, section, rest = definition.partition("\n%")  # before the first section
        definition = f"{head}\n{copied}" + (f"%{rest}" if section else "")
        if context is not None:
            definition = _anchor_files(definition, context)
        parts.append(_localise_definition(definition, locate))
        if alias:
            names[alias.lower()] = name
        names[str(index)] = name
    return "\n".join(parts), warnings


def _split_stages(lines: list[str]) -> list[tuple[str, str | None, list[str]]]:
    """(base as written, alias, instructions after FROM) per stage; ARGs before the first FROM
    are substituted into the FROM lines (as Docker does) and dropped."""
    stages = dockerfile_stages("\n".join(lines))
    out: list[tuple[str, str | None, list[str]]] = []
    for line in lines:
        if _keyword(line) == "FROM":
            image, _, alias = stages[len(out)]
            out.append((image, alias, []))
        elif out:
            out[-1][2].append(line)
    return out


def _stage_name(alias: str | None, index: int, taken: dict[str, str]) -> str:
    """A ``Stage:`` name Apptainer accepts: the alias when it is a plain word, else ``stage<N>``."""
    if alias and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", alias) and alias.lower() not in taken:
        return alias
    return f"stage{index}"


def _copy_from(line: str, match: re.Match[str], names: dict[str, str], workdir: str) -> tuple[str, list[str], str]:
    """``COPY --from=<stage> SRC... DEST`` -> (stage name, sources, destination) (pure)."""
    ref = match.group(1)
    if ref.lower() not in names:
        raise BuildError(f"Dockerfile: COPY --from={ref}: no earlier stage has that name "
                         "(copying from an image is not supported offline)")
    rest = line[match.end():].strip()
    try:
        words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
    except ValueError:
        words = []
    if len(words) < 2 or not all(isinstance(w, str) and w and not any(c.isspace() for c in w) for w in words):
        raise BuildError(f"Dockerfile: cannot convert {line!r} (sources and a destination, without spaces)")
    *sources, dest = words
    sources = [posixpath.join("/", src) for src in sources]  # a stage's paths are absolute in its image
    dest = posixpath.join(workdir, dest)
    return names[ref.lower()], sources, dest


def _stage_definition(base: str, lines: list[str], *, last: bool, command: list[str] | None) -> tuple[str, list[str]]:
    """One stage through spython; only the last one gets the runscript."""
    from spython.main.parse.parsers import DockerParser
    from spython.main.parse.writers import SingularityWriter

    recipe, warnings = _spython(DockerParser, "\n".join([f"FROM {base}", *lines]) + "\n", "Dockerfile")
    for layer in recipe.values():  # type: ignore[attr-defined]
        layer.install = [f"export {line}" if line in layer.environ else line for line in layer.install]
    with _spython_lock:
        definition = SingularityWriter(recipe).convert(runscript="/bin/sh")
    definition = definition.split("\n%runscript", 1)[0].rstrip()  # and %startscript: lz writes its own
    if last:
        runscript = f'exec {shlex.join(command)} "$@"' if command else 'exec /bin/sh "$@"'
        definition += f"\n%runscript\n{runscript}\n"
    return definition + "\n", warnings


def definition_to_dockerfile(text: str) -> tuple[str, list[str]]:
    """A Dockerfile for a single-stage definition (the base keeps its catalogue name).

    spython converts the header, ``%files`` and ``%environment``; ``%post`` becomes one ``RUN``
    of the whole script and ``%runscript`` the ``CMD``, both run by ``/bin/sh`` as Apptainer
    would, so multi-line shell constructs survive.
    """
    from spython.main.parse.parsers import SingularityParser
    from spython.main.parse.writers import DockerWriter

    from lz.runtimes.catalogue import base_of

    header, sections = _split_definition(text)
    if len(re.findall(r"^\s*Bootstrap\s*:", text, re.IGNORECASE | re.MULTILINE)) > 1:
        raise BuildError("cannot convert a multi-stage definition to a Dockerfile")
    base = base_of(text, "singularity")
    warnings = [f"definition: header '{key}: {value}' is ignored"
                for key, value in header if key.lower() not in _DEF_HEADER_KEYS]
    converted: list[str] = [f"Bootstrap: docker\nFrom: {base}\n"]
    post: str | None = None
    runscript: str | None = None
    for name, body in sections:
        if name in ("files", "environment"):
            converted.append(f"%{name}\n{body}\n")
        elif name == "post":
            post = body
        elif name == "runscript":
            runscript = body
        elif name == "setup":
            warnings.append("definition: %setup runs on the build host; lz never runs it")
        else:
            warnings.append(f"definition: %{name} has no Dockerfile equivalent and is ignored")
    recipe, spython_warnings = _spython(SingularityParser, "\n".join(converted), "Singularity")
    with _spython_lock:
        lines = DockerWriter(recipe).convert().splitlines()
    lines = [_from_line(base) if line.upper().startswith("FROM ") else _copy_not_add(line)
             for line in lines if line.strip()]
    lines = [line for line in lines if not line.startswith("CMD ")]  # spython's runscript: none here
    if post is not None and post.strip():
        position = next((i for i, line in enumerate(lines) if line.startswith("ENV ")), len(lines))
        lines.insert(position, "RUN " + json.dumps(["/bin/sh", "-e", "-c", _dedent(post)]))
    if runscript is not None and runscript.strip():
        lines.append("CMD " + json.dumps(["/bin/sh", "-c", _dedent(runscript)]))
    return "\n".join(lines) + "\n", warnings + spython_warnings


# -- Dockerfile side ------------------------------------------------------------------------------
def _filter_dockerfile(text: str) -> tuple[list[str], list[str]]:
    """The instructions spython converts faithfully, and a warning for each one it would not."""
    kept: list[str] = []
    warnings: list[str] = []
    for line in instructions(text):
        keyword = _keyword(line)
        if keyword in _DROPPED:
            warnings.append(f"Dockerfile: {keyword} is not supported by Apptainer/Singularity and is "
                            f"ignored ({_DROPPED[keyword]})")
            continue
        if keyword in _METADATA_ONLY:
            warnings.append(f"Dockerfile: {keyword} is not supported by Apptainer/Singularity and is ignored")
            continue
        if keyword not in _KEPT:
            raise BuildError(f"Dockerfile: unknown instruction {keyword} (in {line[:60]!r})")
        if keyword in ("COPY", "ADD"):
            line, dropped = _copy_options(line)
            if dropped:
                warnings.append(f"Dockerfile: {keyword} options {' '.join(dropped)} are ignored")
        kept.append(line)
    return kept, warnings


def _copy_options(line: str) -> tuple[str, list[str]]:
    """``COPY``/``ADD`` with ``--from`` first and the options Apptainer has no use for removed
    (``--chown``, ``--chmod``, ``--link``: files belong to whoever runs the job) (pure)."""
    keyword, *words = line.split(" ")
    options: list[str] = []
    while words and (words[0].startswith("--") or not words[0]):
        options.append(words.pop(0))
    options = [o for o in options if o]
    kept = [o for o in options if o.lower().startswith("--from=")]
    dropped = [o for o in options if o not in kept]
    return " ".join([keyword, *kept, *words]), dropped


def _keyword(line: str) -> str:
    return line.split(None, 1)[0].upper() if line.strip() else ""


def _localise_definition(definition: str, locate: Locate) -> str:
    """Each ``Bootstrap: docker`` / ``From: NAME`` header -> the local image for NAME."""
    lines = definition.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line, nxt = lines[i], lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() == "Bootstrap: docker" and nxt.startswith("From: "):
            name = nxt[len("From: "):].strip()
            local = None if name == SCRATCH else locate(name)
            if name == SCRATCH:
                out.append("Bootstrap: scratch")
            elif local is None:
                out += [line, nxt]
            else:
                out += ["Bootstrap: localimage", f"From: {local}"]
            i += 2
            continue
        out.append(line)
        i += 1
    return "\n".join(out).strip("\n") + "\n"


def _anchor_files(definition: str, context: Path) -> str:
    """``%files`` sources relative to the build context, which they may not leave (as in Docker)."""
    out: list[str] = []
    in_files = False
    for line in definition.splitlines():
        if line.startswith("%"):
            in_files = line.strip() == "%files"
        elif in_files and line.strip():
            source, _, dest = line.strip().partition(" ")
            path = Path(os.path.normpath(context / source))
            if path != context and context not in path.parents:
                raise BuildError(f"Dockerfile: COPY/ADD source {source!r} is outside the job's folder")
            line = f"{path} {dest}".rstrip()
        out.append(line)
    return "\n".join(out) + "\n"


# -- definition side ------------------------------------------------------------------------------
def _split_definition(text: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(header key, value) pairs and (section name, body) pairs, in order."""
    header: list[tuple[str, str]] = []
    sections: list[tuple[str, str]] = []
    current: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        match = _SECTION.match(line)
        if match:
            if current is not None:
                sections.append((current, "\n".join(body)))
            current, body = match.group(1).lower(), [line[match.end():].strip()] if line[match.end():].strip() else []
            continue
        if current is None:
            if line.strip() and not line.strip().startswith("#") and ":" in line:
                key, _, value = line.partition(":")
                header.append((key.strip(), value.strip()))
        else:
            body.append(line)
    if current is not None:
        sections.append((current, "\n".join(body)))
    return header, sections


def _from_line(base: str) -> str:
    return f"FROM {base}"


def _copy_not_add(line: str) -> str:
    """``%files`` copies; ``ADD`` would also unpack tarballs."""
    return "COPY " + line[4:] if line.startswith("ADD ") else line


def _dedent(body: str) -> str:
    lines = body.strip("\n").splitlines()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in lines).strip() + "\n"


# -- spython --------------------------------------------------------------------------------------
def _spython(parser: type, text: str, filename: str) -> tuple[object, list[str]]:
    """Parse with spython, quietly, returning the recipe and the warnings it logged."""
    from spython.logger import bot
    from spython.logger.message import QUIET

    with _spython_lock, tempfile.TemporaryDirectory(prefix="lz-convert-") as tmp:
        path = Path(tmp) / filename
        path.write_text(text)
        level, start = bot.level, len(bot.history)
        bot.level = QUIET
        try:
            recipe = parser(str(path)).recipe
        except (NotImplementedError, ValueError, IndexError, SystemExit) as exc:
            raise BuildError(f"cannot convert the {filename}: {exc}") from None
        finally:
            bot.level = level
            logged = bot.history[start:]
            del bot.history[start:]
    return recipe, [f"spython: {message}" for message in _spython_warnings(logged)]


def _spython_warnings(logged: list[str]) -> list[str]:
    """spython's warnings, minus the ones about its own working directory (lz parses a copy)
    and about ``scratch`` (lz builds scratch bases offline)."""
    found = []
    for message in logged:
        message = _ANSI.sub("", message).strip()
        if not message.startswith("WARNING "):
            continue
        message = message[len("WARNING "):].strip()
        if "doesn't exist, ensure exists for build" in message or "scratch is no longer" in message:
            continue
        found.append(message)
    return found

