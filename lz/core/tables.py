"""Aligned text tables for people (``lz status``, ``lz hub zones`` ...), in one place, so every
cell is escaped the same way: a job, Station or landing zone name, a reason, any text a user or a
landing zone chose, is shown with its newlines, tabs, escape sequences and other control characters
as ``\\n``, ``\\t``, ``\\x1b`` (``printable``): it can not break the table or reach the terminal
raw. JSON output is not made here and stays plain JSON."""

from __future__ import annotations

from collections.abc import Sequence

from lz.core.errors import printable


def columns(rows: Sequence[Sequence[str]]) -> str:
    """The rows (the first is the header) left-aligned in columns two spaces apart, each cell
    escaped, trailing blanks trimmed."""
    cells = [[printable(str(cell)) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))] if cells else []
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)
