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
    _settle_help_options(main)
    with warnings.catch_warnings():  # click-man calls a helper click 8.2 deprecated: not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        write_man_pages("lz", main, version=__version__, target_dir=str(directory), date=date)
    return [directory / f"{'-'.join(path)}.1" for path in command_paths(main)]


def _settle_help_options(command: click.Command, parent: click.Context | None = None, name: str = "lz") -> None:
    """click keeps each command's help option as the first context that asks makes it; click-man's
    contexts lack the root's ``-h`` (its context_settings), so ask first with contexts that have
    it: every command keeps its ``-h`` after the pages are written (it lost it, in tests and in any
    process that writes pages and then runs a command)."""
    ctx = click.Context(command, info_name=name, parent=parent, **command.context_settings)
    command.get_help_option(ctx)
    for sub_name, sub in getattr(command, "commands", {}).items():
        _settle_help_options(sub, ctx, sub_name)
