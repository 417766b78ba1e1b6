"""The command line: parse, call the services, format. Every user mistake is one line on stderr.

Only click is imported up front; each command's module is imported when that command runs (the
table below), and each command imports what it needs when it runs, so ``lz --help`` answers at
once and ``lz submit`` pays for no other command (issue 23).
"""

from __future__ import annotations

from typing import Any

from lz.cli.common import main

main.lazy.update({  # command -> the module that registers it (``module:function``: that function does)
    "submit": "lz.cli.submit",
    **dict.fromkeys(("status", "cancel", "logs", "results", "resubmit"), "lz.cli.jobs"),
    **dict.fromkeys(("run", "db", "deps", "diagram", "doctor", "completion"), "lz.cli.admin"),
    **dict.fromkeys(("kill", "pause", "resume", "stop", "top"), "lz.cli.control"),
    "pilots": "lz.cli.pilots",
    "service": "lz.cli.service",
    "config": "lz.cli.settings_cmd",
    **dict.fromkeys(("hub", "station", "zones", "login", "token", "usage"), "lz.cli.hub:register"),
})


def __getattr__(name: str) -> Any:
    """``galileod`` (its console script's entry point), imported only by whoever asks for it."""
    if name == "galileod":
        from lz.cli.galileod import galileod

        return galileod
    raise AttributeError(f"module 'lz.cli' has no attribute {name!r}")


__all__ = ["galileod", "main"]
