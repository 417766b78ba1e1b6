"""Talking to SLURM: argv builders (commands.py) and output parsers (parse.py), both pure."""
