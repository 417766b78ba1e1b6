"""lz, the Landing Zone: a crash-safe job gateway for SLURM clusters."""

from __future__ import annotations

FALLBACK_VERSION = "0+unknown"
"""What ``lz --version`` says when lz runs from files that were never installed (no metadata)."""


def __getattr__(name: str) -> str:
    """``lz.__version__``: the installed distribution's version, which setuptools-scm took from the
    git tag (one source). Looked up on first use, so ``import lz`` stays as cheap as before."""
    if name != "__version__":
        raise AttributeError(f"module 'lz' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("lz")
    except PackageNotFoundError:
        found = FALLBACK_VERSION
    globals()["__version__"] = found
    return found
