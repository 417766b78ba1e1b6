"""The command line: parse, call the services, format. Every user mistake is one line on stderr.

Only click is imported up front; each command imports what it needs when it runs, so ``lz --help``
answers at once and ``lz status`` pays only for the database code it uses.
"""

from __future__ import annotations

from lz.cli import admin, control, jobs, pilots, service, settings_cmd  # noqa: F401  (they register their commands on ``main``)
from lz.cli.common import main
from lz.cli.galileod import galileod
from lz.cli.hub import register as _register_hub

_register_hub(main)  # lz hub, lz station, lz zones

__all__ = ["galileod", "main"]
