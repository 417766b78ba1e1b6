"""Man pages generated from the command line itself (click-man: one page per command, ``lz.1``,
``lz-submit.1``, ``lz-hub-token-create.1`` ...), so they can never say what ``--help`` does not.
click-man is a development extra (``pip install -e '.[dev]'``); ``scripts/man-pages`` calls this."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import click

from lz import __version__
from lz.core.errors import UserError


def command_paths(group: click.Command, path: tuple[str, ...] = ("lz",)) -> Iterator[tuple[str, ...]]:
    """Every visible command's path, the root's first: ("lz",), ("lz", "submit"), ..."""
    yield path
    for name, command in getattr(group, "commands", {}).items():
        if not command.hidden:
            yield from command_paths(command, (*path, name))


def write(directory: Path, date: str | None = None) -> list[Path]:
    """One page per command in ``directory`` (created); the pages' paths, the root's first."""
    try:
        from click_man.core import write_man_pages
    except ImportError:
        raise UserError("click-man is not installed: pip install click-man (or pip install -e '.[dev]')") from None
    from lz.cli import main

    directory.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # click-man calls a helper click 8.2 deprecated: not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        write_man_pages("lz", main, version=__version__, target_dir=str(directory), date=date)
    return [directory / f"{'-'.join(path)}.1" for path in command_paths(main)]
