"""Container runtimes: build a job's image and give the argv that runs it (see base.py)."""
