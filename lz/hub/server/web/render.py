"""Templates and the headers every page carries: a strict Content-Security-Policy (scripts and
styles only from the hub itself), no framing, no referrer, no caching of signed-in pages."""

from __future__ import annotations

import html
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from lz import __version__

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
HEADERS = {
    "Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
}


@lru_cache(maxsize=1)
def environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(ago=ago, when=when, size=size, duration=duration, mb=megabytes, resources=resources)
    env.globals.update(version=__version__)
    return env


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    body = environment().get_template(template).render(request=request, path=request.url.path, **context)
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def moving_on(target: str) -> HTMLResponse:
    """A page that goes on to ``target`` at once (a same-site navigation; see ``session.start``)."""
    quoted = html.escape(target, quote=True)
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" '
            f'content="0;url={quoted}"><title>Signed in</title></head>'
            f'<body><p>Signed in. <a href="{quoted}">Continue</a></p></body></html>')
    return HTMLResponse(body, headers=HEADERS)


# -- filters -------------------------------------------------------------------------------------
def ago(at: float | None, now: float | None = None) -> str:
    if at is None:
        return "never"
    seconds = max(0, int((now or time.time()) - at))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def when(at: float | str | None) -> str:
    if at is None or at == "":
        return "–"
    if isinstance(at, str):
        return at.replace("T", " ").removesuffix("Z").split(".")[0]
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def size(count: int | None) -> str:
    if count is None:
        return "–"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def megabytes(count: int | None) -> str:
    return "–" if count is None else size(count << 20)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def resources(asked: dict[str, Any]) -> str:
    """A job's resources as people write them: ``2 CPUs, 4.0 GiB, 1 GPU, 1:00:00, partition gpu``."""
    words = []
    for key, value in asked.items():
        if value is None or value == "" or (key == "gpus" and value == 0):
            continue
        if key == "cpus":
            words.append(f"{value} CPU{'s' if value != 1 else ''}")
        elif key == "memory_mb":
            words.append(megabytes(int(value)))
        elif key == "gpus":
            words.append(f"{value} GPU{'s' if value != 1 else ''}")
        elif key == "time_s":
            words.append(duration(float(value)))
        else:
            words.append(f"{key} {value}")
    return ", ".join(words) or "–"


# -- the state diagram ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _diagram() -> str:
    svg = (STATIC / "job_lifecycle.svg").read_text(encoding="utf-8")
    svg = svg[svg.index("<svg"):]  # inline: no XML prolog or doctype
    return re.sub(r'<svg width="[^"]*" height="[^"]*"', '<svg role="img" aria-label="job lifecycle"', svg, count=1)


def diagram(state: str) -> str:
    """The lifecycle picture (``lz diagram``) with ``state``'s node marked ``current``; the page's
    stylesheet colours it (CSS wins over the SVG's presentation attributes)."""
    pattern = re.compile(r'<g id="(node\d+)" class="node">\s*<title>' + re.escape(html.escape(state)) + "</title>")
    return pattern.sub(lambda m: m.group(0).replace('class="node"', 'class="node current"'), _diagram(), count=1)
