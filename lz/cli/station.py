"""``lz station invite|invitations|accept|decline|members|remove-member|leave|quota`` (hub clients)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import click


def _client() -> Any:
    from lz.cli.hub_target import target

    found = target(required=True)
    assert found is not None
    return found.client()


def _seg(name: str) -> str:
    return quote(name, safe="")


def register(station_group: click.Group) -> None:
    """Add the membership commands to ``lz station``."""
    from lz.cli.hub_target import hub_options

    @station_group.command(name="invite")
    @click.argument("station")
    @click.argument("user")
    @click.option("--role", type=click.Choice(["member", "admin"]), default="member", show_default=True)
    @hub_options
    def invite(station: str, user: str, role: str) -> None:
        """Invite USER to STATION (owners and admins)."""
        got = _client().post(f"/api/v1/stations/{_seg(station)}/invitations", {"user": user, "role": role})
        click.echo(f"invited {got['user']} to station {got['station']} as {got['role']}")

    @station_group.command(name="invitations")
    @click.option("--json", "as_json", is_flag=True)
    @hub_options
    def invitations(as_json: bool) -> None:
        """Invitations waiting for you."""
        rows = _client().get("/api/v1/invitations")
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        for r in rows:
            click.echo(f"{r['station']}  as {r['role']}  (invited by {r['invited_by']})")
        if not rows:
            click.echo("no invitations")

    @station_group.command(name="accept")
    @click.argument("station")
    @hub_options
    def accept(station: str) -> None:
        """Accept the invitation to STATION."""
        _client().post(f"/api/v1/invitations/{_seg(station)}/accept")
        click.echo(f"you joined station {station}")

    @station_group.command(name="decline")
    @click.argument("station")
    @hub_options
    def decline(station: str) -> None:
        """Decline the invitation to STATION."""
        _client().post(f"/api/v1/invitations/{_seg(station)}/decline")
        click.echo(f"declined the invitation to station {station}")

    @station_group.command(name="members")
    @click.argument("station")
    @click.option("--json", "as_json", is_flag=True)
    @hub_options
    def members(station: str, as_json: bool) -> None:
        """Members of STATION with their roles."""
        rows = _client().get(f"/api/v1/stations/{_seg(station)}/members")
        click.echo(json.dumps(rows, indent=2) if as_json else "\n".join(f"{r['user']}  {r['role']}" for r in rows))

    @station_group.command(name="remove-member")
    @click.argument("station")
    @click.argument("user")
    @hub_options
    def remove_member(station: str, user: str) -> None:
        """Remove USER from STATION (owners and admins)."""
        _client().delete(f"/api/v1/stations/{_seg(station)}/members/{_seg(user)}")
        click.echo(f"removed {user} from station {station}")

    @station_group.command(name="quota")
    @click.argument("station")
    @click.option("--pending", default=None, metavar="N|default", help="Jobs waiting at once.")
    @click.option("--running", default=None, metavar="N|default", help="Jobs running (leased) at once; more wait.")
    @click.option("--bytes", "size", default=None, metavar="SIZE|default",
                  help="Bytes kept on the hub for its jobs (bundles and results), e.g. 500G.")
    @click.option("--json", "as_json", is_flag=True)
    @hub_options
    def quota(station: str, pending: str | None, running: str | None, size: str | None, as_json: bool) -> None:
        """Show STATION's quota and use; with values, set them (its owner up to the hub's defaults,
        a hub admin any; ``default`` goes back to the hub's)."""
        values = _quota_values(pending, running, size)
        path = f"/api/v1/stations/{_seg(station)}/quota"
        got = _client().put(path, json=values) if values else _client().get(path)
        click.echo(json.dumps(got, indent=2) if as_json else _quota_text(got))

    @station_group.group(name="volume")
    def volume() -> None:
        """A Station's volumes: a mount point and access, a host path per landing zone."""

    @volume.command(name="add")
    @click.argument("station")
    @click.argument("name")
    @click.option("--mount", required=True, help="Where jobs see it, e.g. /data (outside /lz/work).")
    @click.option("--access", type=click.Choice(["ro", "rw"]), default="ro", show_default=True)
    @hub_options
    def volume_add(station: str, name: str, mount: str, access: str) -> None:
        """Add (or change) volume NAME of STATION (owners and admins)."""
        _client().put(f"/api/v1/stations/{_seg(station)}/volumes/{_seg(name)}", json={"mount": mount, "access": access})
        click.echo(f"volume {name} of station {station}: {mount} ({access})")

    @volume.command(name="map")
    @click.argument("station")
    @click.argument("name")
    @click.option("--lz", "lz", required=True, help="The landing zone.")
    @click.option("--host-path", required=True, help="Where the volume is on that landing zone.")
    @hub_options
    def volume_map(station: str, name: str, lz: str, host_path: str) -> None:
        """Say where volume NAME is on landing zone LZ (its owner, or a Station owner or admin)."""
        _client().put(f"/api/v1/stations/{_seg(station)}/volumes/{_seg(name)}/zones/{_seg(lz)}",
                      json={"host_path": host_path})
        click.echo(f"volume {name} of station {station} is {host_path} on {lz}")

    @volume.command(name="remove")
    @click.argument("station")
    @click.argument("name")
    @hub_options
    def volume_remove(station: str, name: str) -> None:
        """Remove volume NAME from STATION (owners and admins)."""
        _client().delete(f"/api/v1/stations/{_seg(station)}/volumes/{_seg(name)}")
        click.echo(f"removed volume {name} from station {station}")

    @volume.command(name="list")
    @click.argument("station")
    @click.option("--json", "as_json", is_flag=True)
    @hub_options
    def volume_list(station: str, as_json: bool) -> None:
        """Volumes of STATION and where each is on its landing zones."""
        rows = _client().get(f"/api/v1/stations/{_seg(station)}/volumes")
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        for r in rows:
            where = ", ".join(f"{lz}:{path}" for lz, path in r["landing_zones"].items()) or "(not mapped)"
            click.echo(f"{r['name']}  {r['mount']}  {r['access']}  {where}")

    @station_group.command(name="leave")
    @click.argument("station")
    @hub_options
    def leave(station: str) -> None:
        """Leave STATION (its owner cannot)."""
        _client().post(f"/api/v1/stations/{_seg(station)}/leave")
        click.echo(f"you left station {station}")


def _quota_values(pending: str | None, running: str | None, size: str | None) -> dict[str, int | None]:
    """The fields to set: a number (a size for bytes), or ``default`` (None); bad input: one line, exit 2."""
    from lz.core.errors import UserError
    from lz.hub.protocol.sizes import parse_size

    def _count(text: str, flag: str) -> int | None:
        if text == "default":
            return None
        if not text.isdigit() or int(text) > 1 << 31:
            raise UserError(f"{flag} {text!r}: not a count (0 to {1 << 31}) nor 'default'")
        return int(text)

    values: dict[str, int | None] = {}
    if pending is not None:
        values["pending"] = _count(pending, "--pending")
    if running is not None:
        values["running"] = _count(running, "--running")
    if size is not None:
        try:
            values["bytes"] = None if size == "default" else parse_size(size)
        except ValueError as exc:
            raise UserError(f"--bytes: {exc}") from None
    return values


def _quota_text(got: dict[str, Any]) -> str:
    from lz.hub.protocol.sizes import human_bytes

    def _line(kind: str, what: str, show: Any) -> str:
        q = got[kind]
        whose = "" if q["own"] else " (the hub's default)"
        return f"  {what}: {show(q['used'])} of {show(q['limit'])}{whose}"

    return "\n".join([f"station {got['station']} quota",
                      _line("pending", "jobs waiting", str), _line("running", "jobs running", str),
                      _line("bytes", "stored", human_bytes)])
