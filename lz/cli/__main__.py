"""``python -m lz.cli``: the same as the ``lz`` command."""

from lz.cli.entry import run

run()
