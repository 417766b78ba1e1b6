"""The command line: parse, call the services, format. Every user mistake is one line on stderr.

Only click is imported up front; each command's module is imported when that command runs (the
table in ``lz.cli.common``), and each command imports what it needs when it runs, so ``lz --help``
answers at once and ``lz submit`` pays for no other command (issue 23). The console script starts
in ``lz.cli.entry``, which takes a plain ``lz submit DIR`` without importing click at all; ``main``
(the click group) and ``galileod`` are imported from here when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lz.cli.common import main
    from lz.cli.galileod import galileod


def __getattr__(name: str) -> Any:
    found: Any
    if name == "main":
        from lz.cli.common import main as found
    elif name == "galileod":
        from lz.cli.galileod import galileod as found
    else:
        raise AttributeError(f"module 'lz.cli' has no attribute {name!r}")
    # bound here: importing the submodule ``lz.cli.galileod`` has just set this package's
    # ``galileod`` to that module, which ``from lz.cli import galileod`` would then hand out
    globals()[name] = found
    return found


__all__ = ["galileod", "main"]
