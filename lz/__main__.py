"""``python -m lz``: the same as the ``lz`` command."""

from lz.cli import main

main()
