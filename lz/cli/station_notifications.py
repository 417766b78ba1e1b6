"""``lz station notifications add|list|remove``: how you get a Station's notifications of your jobs
and their ends (web alerts, e-mail, signed webhooks), over the hub's API."""

from __future__ import annotations

import json
from typing import Any

import click

from lz.cli.station_commands import client, seg

CHANNELS = ("web", "email", "webhook")
EVENTS = ("notifications", "job_end")


def subscription_body(channel: str, target: str | None, events: tuple[str, ...]) -> dict[str, Any]:
    """The API's body (pure: tests look at it); no ``--event``: both."""
    body: dict[str, Any] = {"channel": channel, "events": list(dict.fromkeys(events or EVENTS))}
    if target:
        body["target"] = target
    return body


def register(station_group: click.Group) -> None:
    from lz.cli.hub_target import hub_options

    @station_group.group(name="notifications")
    def notifications_group() -> None:
        """How you get a Station's notifications of your jobs and their ends (none set: web alerts)."""

    @notifications_group.command(name="add")
    @click.argument("station")
    @click.argument("channel", type=click.Choice(CHANNELS))
    @click.argument("target", required=False)
    @click.option("--event", "events", multiple=True, type=click.Choice(EVENTS),
                  help="What to be told of (repeat; none given: both).")
    @click.option("--json", "as_json", is_flag=True)
    @hub_options
    def add(station: str, channel: str, target: str | None, events: tuple[str, ...], as_json: bool) -> None:
        """Get STATION's notifications by CHANNEL: web (the page's badge), email TARGET (an address)
        or webhook TARGET (an http(s) URL; its signing secret is shown this once)."""
        from lz.hub.protocol.notifications import subscription_text

        made = client().post(f"/api/v1/stations/{seg(station)}/notifications",
                              subscription_body(channel, target, events))
        if as_json:
            click.echo(json.dumps(made, indent=2))
            return
        click.echo(subscription_text(made))
        if made.get("secret"):
            click.echo(f"signing secret (shown once; X-LZ-Signature is the HMAC-SHA256 of the body): {made['secret']}")

    @notifications_group.command(name="list")
    @click.argument("station")
    @click.option("--json", "as_json", is_flag=True)
    @hub_options
    def list_(station: str, as_json: bool) -> None:
        """Your ways of getting STATION's notifications."""
        from lz.hub.protocol.notifications import subscription_text

        rows = client().get(f"/api/v1/stations/{seg(station)}/notifications")
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        for r in rows:
            click.echo(subscription_text(r))
        if not rows:
            click.echo("none: web alerts only")

    @notifications_group.command(name="remove")
    @click.argument("station")
    @click.argument("sub_id", metavar="ID", type=click.IntRange(min=1))
    @hub_options
    def remove(station: str, sub_id: int) -> None:
        """Stop getting STATION's notifications by way ID (lz station notifications list)."""
        client().request("DELETE", f"/api/v1/stations/{seg(station)}/notifications/{sub_id}")  # 204: no body
        click.echo(f"removed way {sub_id} of station {station}")
