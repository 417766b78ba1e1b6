"""What the ``lz station`` command groups share: the hub client, a name as one URL segment, and
the ``list`` and ``remove`` commands every kind of a Station's things (volumes, roles,
templates) has, made once here instead of once per kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import click


def client() -> Any:
    from lz.cli.hub_target import target

    found = target(required=True)
    assert found is not None
    return found.client()


def seg(name: str) -> str:
    return quote(name, safe="")


def add_list(group: click.Group, kind: str, doc: str, line: Callable[[dict[str, Any]], str],
             empty: str | None = None) -> None:
    """``GROUP list STATION [--json]``: GET /api/v1/stations/STATION/KIND, a line a row."""
    from lz.cli.hub_target import hub_options

    @group.command(name="list", help=doc)
    @click.argument("station")
    @click.option("--json", "as_json", is_flag=True)
    @hub_options
    def listing(station: str, as_json: bool) -> None:
        rows = client().get(f"/api/v1/stations/{seg(station)}/{kind}")
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        for row in rows:
            click.echo(line(row))
        if not rows and empty:
            click.echo(empty)


def add_remove(group: click.Group, kind: str, noun: str, doc: str) -> None:
    """``GROUP remove STATION NAME``: DELETE /api/v1/stations/STATION/KIND/NAME."""
    from lz.cli.hub_target import hub_options

    @group.command(name="remove", help=doc)
    @click.argument("station")
    @click.argument("name")
    @hub_options
    def remove(station: str, name: str) -> None:
        client().delete(f"/api/v1/stations/{seg(station)}/{kind}/{seg(name)}")
        click.echo(f"removed {noun} {name} from station {station}")
