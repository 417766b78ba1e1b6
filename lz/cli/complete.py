"""Shell completion of values (click's ``shell_complete``): job ids from the landing zone's store.

Completion runs on every <TAB>, so it reads the database read-only with ``sqlite3`` (no
migrations, no SQLAlchemy) and never fails: anything wrong completes nothing. A hub's Station
names plug in the same way (a function returning ``CompletionItem``s).
"""

from __future__ import annotations

from pathlib import Path

import click
from click.shell_completion import CompletionItem


def job_ids(db: Path, prefix: str, limit: int = 200) -> list[tuple[str, str]]:
    """(id, "name state") of the newest jobs whose id starts with ``prefix``."""
    import sqlite3

    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    try:
        rows = conn.execute("SELECT id, name, state FROM jobs WHERE id LIKE ? ESCAPE '\\' "
                            "ORDER BY created_at DESC LIMIT ?",
                            (prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", limit)).fetchall()
    finally:
        conn.close()
    return [(job_id, f"{name} {state}") for job_id, name, state in rows]


SHELLS = ("bash", "zsh", "fish")


def script(shell: str, prog: str = "lz") -> str:
    """The completion script click generates for ``shell`` (what ``lz completion SHELL`` prints)."""
    from click.shell_completion import get_completion_class

    from lz.cli.common import main

    cls = get_completion_class(shell)
    assert cls is not None
    return cls(main, {}, prog, f"_{prog.upper()}_COMPLETE").source()


def complete_job_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    try:
        from lz.config import load_settings

        flags = {k: ctx.params.get(k) for k in ("db", "workdir") if ctx.params.get(k)}
        loaded = load_settings(ctx.params.get("config_file"), flags=flags)
        return [CompletionItem(job_id, help=help_) for job_id, help_ in job_ids(loaded.db, incomplete)]
    except Exception:  # noqa: BLE001 - a completion must never print a traceback into the shell
        return []


def complete_station(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Station names from the hub (LZ_HUB and the token file), asked with a short timeout; nothing
    when no hub answers."""
    try:
        from lz.client.target import resolve

        target = resolve(ctx.params.get("hub_url"), ctx.params.get("token_file"),
                         allow_insecure=ctx.params.get("allow_insecure_hub"))
        if target is None:
            return []
        stations = target.client().get("/api/v1/stations", timeout_s=3, retries=0)
        return [CompletionItem(s["name"]) for s in stations if str(s["name"]).startswith(incomplete)]
    except Exception:  # noqa: BLE001 - a completion must never print a traceback into the shell
        return []
