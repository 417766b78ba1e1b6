"""The landing zone's engine: the tick, the steps it runs, the one SLURM watcher, housekeeping, job workspaces, job control and the composition root (assembly)."""
