"""A job template's fields as people write them (``lz station template add``'s options, the
Station page's form: text as on ``lz submit``) to the API's body, and back to one line (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_PARSERS: dict[str, tuple[str, str]] = {"cpus": ("cpus", "count"), "memory": ("memory_mb", "memory"),
                                        "gpus": ("gpus", "count"), "time": ("time_s", "time")}


def template_body(options: Mapping[str, str | None], description: str = "", runtimes: tuple[str, ...] = (),
                  distributed: bool = False, ports: tuple[int, ...] = ()) -> dict[str, Any]:
    """The API's template body from ``lz station template add``'s options (``cpus``, ``min_cpus``,
    ``max_memory`` ...: text as on ``lz submit``); a bad value: one line, exit 2."""
    from lz.core.errors import ResourceError, UserError
    from lz.core.resources import parse_memory, parse_time

    def _value(kind: str, flag: str, text: str) -> int:
        try:
            if kind == "memory":
                return parse_memory(text)
            if kind == "time":
                return parse_time(text)
        except ResourceError as exc:
            raise UserError(f"--{flag}: {exc}") from None
        if not text.isdigit() or len(text) > 9:
            raise UserError(f"--{flag} {text!r}: not a whole number")
        return int(text)

    body: dict[str, Any] = {"description": description, "runtimes": list(runtimes), "distributed": distributed,
                            "ports": list(ports)}
    for option, (field, kind) in _PARSERS.items():
        bounds = {}
        for which, key in (("default", option), ("min", f"min_{option}"), ("max", f"max_{option}")):
            text = options.get(key)
            if text is not None:
                bounds[which] = _value(kind, key.replace("_", "-"), text)
        body[field] = bounds
    return body


def template_text(t: dict[str, Any]) -> str:
    """One line: each bounded resource as default [min..max], then runtimes, distributed, ports."""
    from lz.core.resources import format_memory, format_time

    shows: dict[str, Callable[[int], str]] = {"cpus": str, "memory_mb": format_memory, "gpus": str,
                                              "time_s": format_time}
    parts = []
    for field, show in shows.items():
        b = t.get(field) or {}
        if any(b.get(k) is not None for k in ("default", "min", "max")):
            span = f"{show(b['min']) if b.get('min') is not None else ''}..{show(b['max']) if b.get('max') is not None else ''}"
            default = show(b["default"]) if b.get("default") is not None else "-"
            parts.append(f"{field.split('_')[0]} {default} [{span}]")
    parts.append("runtimes " + (",".join(t.get("runtimes") or []) or "any"))
    if t.get("distributed"):
        parts.append("distributed")
    if t.get("ports"):
        parts.append("ports " + ",".join(str(p) for p in t["ports"]))
    text = ", ".join(parts)
    return f"{text} ({t['description']})" if t.get("description") else text
