"""``lz station invite|invitations|accept|decline|members|remove-member|leave|quota|volume|role|template``
(hub clients)."""

from __future__ import annotations

import json
from typing import Any

import click

from lz.cli import station_notifications
from lz.cli.station_commands import add_list, add_remove, client, seg


def register(station_group: click.Group) -> None:
    """Add the membership commands to ``lz station``."""
    from lz.cli.hub_target import hub_options

    @station_group.command(name="invite")
    @click.argument("station")
    @click.argument("user")
    @click.option("--role", default="contributor", show_default=True,
                  help="admin, contributor, launcher, or a custom role of the Station (lz station role list).")
    @hub_options
    def invite(station: str, user: str, role: str) -> None:
        """Invite USER to STATION (a role with manage_members)."""
        got = client().post(f"/api/v1/stations/{seg(station)}/invitations", {"user": user, "role": role})
        click.echo(f"invited {got['user']} to station {got['station']} as {got['role']}")

    @station_group.command(name="invitations")
    @click.option("--json", "as_json", is_flag=True)
    @hub_options
    def invitations(as_json: bool) -> None:
        """Invitations waiting for you."""
        rows = client().get("/api/v1/invitations")
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
        client().post(f"/api/v1/invitations/{seg(station)}/accept")
        click.echo(f"you joined station {station}")

    @station_group.command(name="decline")
    @click.argument("station")
    @hub_options
    def decline(station: str) -> None:
        """Decline the invitation to STATION."""
        client().post(f"/api/v1/invitations/{seg(station)}/decline")
        click.echo(f"declined the invitation to station {station}")

    @station_group.command(name="members")
    @click.argument("station")
    @click.option("--json", "as_json", is_flag=True)
    @hub_options
    def members(station: str, as_json: bool) -> None:
        """Members of STATION with their roles."""
        rows = client().get(f"/api/v1/stations/{seg(station)}/members")
        click.echo(json.dumps(rows, indent=2) if as_json else "\n".join(f"{r['user']}  {r['role']}" for r in rows))

    @station_group.command(name="remove-member")
    @click.argument("station")
    @click.argument("user")
    @hub_options
    def remove_member(station: str, user: str) -> None:
        """Remove USER from STATION (a role with manage_members; an admin: the owner)."""
        client().delete(f"/api/v1/stations/{seg(station)}/members/{seg(user)}")
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
        path = f"/api/v1/stations/{seg(station)}/quota"
        got = client().put(path, json=values) if values else client().get(path)
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
        """Add (or change) volume NAME of STATION (a role with volumes)."""
        client().put(f"/api/v1/stations/{seg(station)}/volumes/{seg(name)}", json={"mount": mount, "access": access})
        click.echo(f"volume {name} of station {station}: {mount} ({access})")

    @volume.command(name="map")
    @click.argument("station")
    @click.argument("name")
    @click.option("--lz", "lz", required=True, help="The landing zone.")
    @click.option("--host-path", required=True, help="Where the volume is on that landing zone.")
    @hub_options
    def volume_map(station: str, name: str, lz: str, host_path: str) -> None:
        """Say where volume NAME is on landing zone LZ (its owner, or a Station owner or admin)."""
        client().put(f"/api/v1/stations/{seg(station)}/volumes/{seg(name)}/zones/{seg(lz)}",
                      json={"host_path": host_path})
        click.echo(f"volume {name} of station {station} is {host_path} on {lz}")

    add_remove(volume, "volumes", "volume", "Remove volume NAME from STATION (a role with volumes).")
    add_list(volume, "volumes", "Volumes of STATION and where each is on its landing zones.", _volume_line)

    _roles(station_group)
    _templates(station_group)
    station_notifications.register(station_group)

    @station_group.command(name="leave")
    @click.argument("station")
    @hub_options
    def leave(station: str) -> None:
        """Leave STATION (its owner cannot)."""
        client().post(f"/api/v1/stations/{seg(station)}/leave")
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


def _roles(station_group: click.Group) -> None:
    from lz.cli.hub_target import hub_options

    @station_group.group(name="role")
    def role() -> None:
        """A Station's roles: sets of permission flags (README: Roles and permissions)."""

    add_list(role, "roles", "Every role of STATION and its flags.", _role_line)

    @role.command(name="add")
    @click.argument("station")
    @click.argument("name")
    @click.option("--flag", "flags", multiple=True, metavar="FLAG",
                  help="A permission (repeat): launch, templates, add_zones, remove_zones, others_jobs, volumes, "
                       "ports, manage_templates, manage_members.")
    @hub_options
    def role_add(station: str, name: str, flags: tuple[str, ...]) -> None:
        """Add (or change) custom role NAME of STATION with these flags (manage_members)."""
        client().put(f"/api/v1/stations/{seg(station)}/roles/{seg(name)}", json={"flags": list(flags)})
        click.echo(f"role {name} of station {station}: {' '.join(flags) or '(no flags)'}")

    add_remove(role, "roles", "role", "Remove custom role NAME of STATION (no member may hold it).")

    @role.command(name="give")
    @click.argument("station")
    @click.argument("user")
    @click.argument("name")
    @hub_options
    def role_give(station: str, user: str, name: str) -> None:
        """Give member USER of STATION the role NAME (manage_members; an admin's: the owner)."""
        client().put(f"/api/v1/stations/{seg(station)}/members/{seg(user)}", json={"role": name})
        click.echo(f"{user} is now {name} in station {station}")


def _templates(station_group: click.Group) -> None:
    from lz.cli.hub_target import hub_options

    @station_group.group(name="template")
    def template() -> None:
        """A Station's job templates: default, least and most resources, runtimes (lz submit --template)."""

    @template.command(name="add")
    @click.argument("station")
    @click.argument("name")
    @click.option("--description", default="", help="One line for people.")
    @click.option("--cpus", default=None, help="Default CPUs.")
    @click.option("--min-cpus", default=None)
    @click.option("--max-cpus", default=None)
    @click.option("--memory", default=None, help="Default memory, e.g. 4G.")
    @click.option("--min-memory", default=None)
    @click.option("--max-memory", default=None)
    @click.option("--gpus", default=None, help="Default GPUs.")
    @click.option("--min-gpus", default=None)
    @click.option("--max-gpus", default=None)
    @click.option("--time", "time_", default=None, help="Default time limit, e.g. 1:00:00.")
    @click.option("--min-time", default=None)
    @click.option("--max-time", default=None)
    @click.option("--runtime", "runtimes", multiple=True, type=click.Choice(["dockerfile", "singularity", "command"]),
                  help="A runtime its jobs may use (repeat; none given: any).")
    @click.option("--distributed", is_flag=True, help="Its jobs may run several tasks or nodes (without it: one task on one node).")
    @click.option("--port", "ports", multiple=True, type=click.IntRange(1, 65535),
                  help="A port its jobs may serve (repeat; others are refused; submitting then takes the ports permission).")
    @hub_options
    def template_add(station: str, name: str, description: str, runtimes: tuple[str, ...], distributed: bool,
                     ports: tuple[int, ...], **bounds: str | None) -> None:
        """Add (or replace) template NAME of STATION (manage_templates)."""
        from lz.hub.protocol.templates import template_body, template_text

        body = template_body(bounds, description, runtimes, distributed, ports)
        client().put(f"/api/v1/stations/{seg(station)}/templates/{seg(name)}", json=body)
        click.echo(f"template {name} of station {station}: {template_text(body)}")

    add_list(template, "templates", "Templates of STATION.", _template_line, empty="no templates")
    add_remove(template, "templates", "template", "Remove template NAME of STATION (manage_templates).")


def _volume_line(r: dict[str, Any]) -> str:
    where = ", ".join(f"{lz}:{path}" for lz, path in r["landing_zones"].items()) or "(not mapped)"
    return f"{r['name']}  {r['mount']}  {r['access']}  {where}"


def _role_line(r: dict[str, Any]) -> str:
    kind = "built in" if r["built_in"] else "custom"
    return f"{r['name']:<16} {kind:<9} {' '.join(r['flags']) or '(none: may only look)'}"


def _template_line(r: dict[str, Any]) -> str:
    from lz.hub.protocol.templates import template_text

    return f"{r['name']}: {template_text(r)}"
