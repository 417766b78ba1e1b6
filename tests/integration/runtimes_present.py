"""The container runtimes installed on this machine, as pytest parameters."""

from __future__ import annotations

import pytest

from lz.runtimes.select import available

_MARKS = {"charliecloud": pytest.mark.charliecloud, "apptainer": pytest.mark.apptainer,
          "singularity": pytest.mark.apptainer}
_MISSING = {"charliecloud": "Charliecloud (ch-image, ch-run) not installed",
            "apptainer": "apptainer not on PATH (scripts/install-apptainer install)",
            "singularity": "singularity not on PATH (scripts/install-apptainer install)"}


def runtimes(*names: str) -> list[object]:
    """One parameter per runtime, skipped where the runtime is not installed."""
    return [pytest.param(name, id=name, marks=[_MARKS[name], pytest.mark.skipif(not available(name), reason=_MISSING[name])])
            for name in names]
