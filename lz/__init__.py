"""lz, the Landing Zone: a crash-safe job gateway for SLURM clusters."""

__version__ = "0.1.0"
