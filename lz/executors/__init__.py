"""Executors: where a built job runs (see base.py): this machine, or a SLURM cluster."""
