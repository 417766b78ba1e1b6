"""``lz config``: the settings in effect and where each came from; the generated reference."""

from __future__ import annotations

from pathlib import Path

import click

from lz.cli.common import common, main


@main.group(name="config")
def config_group() -> None:
    """The configuration: what is in effect, and the reference of every setting."""


@config_group.command(name="show")
@common
@click.option("--json", "as_json", is_flag=True, help="{name: {value, source}} as JSON.")
def show(as_json: bool) -> None:
    """Every setting's effective value and its source: default, file, environment or flag."""
    from lz.config import load_settings_with_sources
    from lz.ops import config_reference

    ctx = click.get_current_context()
    loaded, sources = load_settings_with_sources(ctx.meta.get("lz.config_file"), flags=ctx.meta.get("lz.flags", {}))
    click.echo((config_reference.show_json if as_json else config_reference.show_text)(loaded, sources), nl=False)


@config_group.command(name="reference")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write to this file (docs/configuration.md) instead of stdout.")
def reference(output: Path | None) -> None:
    """The configuration reference in Markdown, generated from the settings."""
    from lz.ops.config_reference import reference as text

    if output is None:
        click.echo(text(), nl=False)
    else:
        output.write_text(text())
        click.echo(str(output))
