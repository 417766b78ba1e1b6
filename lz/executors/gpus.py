"""Which GPU each local job holds, as Slurm does for steps: a job gets exactly the GPUs it asked
for (``CUDA_VISIBLE_DEVICES``), one asking for none sees none, and no GPU serves two jobs.

Crash-safe without a database column: each taken GPU is a file ``<dir>/<gpu>`` created with
``O_EXCL`` before the job starts (intent before effect), holding the job's meta directory; the
job's meta directory gets a ``gpus`` file with its ids too. A restarted daemon finds the running
jobs still holding their files; a holder whose job ended (exit file written, process gone, meta
directory removed) is stale and its GPU is free again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from lz.core.errors import LzError

GPU_FILE = "gpus"


class NoGpusFree(LzError):
    """Not enough GPUs free right now; the job waits in ``queued`` for the next tick."""


def job_environment(ids: Sequence[str]) -> dict[str, str]:
    """What a job sees: its GPUs, or none at all (``""`` hides every GPU from CUDA; ``void``
    from the NVIDIA container runtime)."""
    if ids:
        return {"CUDA_VISIBLE_DEVICES": ",".join(ids), "NVIDIA_VISIBLE_DEVICES": ",".join(ids)}
    return {"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "void"}


class GpuRegistry:
    def __init__(self, devices: Sequence[str], directory: Path, alive: Callable[[Path], bool]):
        self.devices = list(devices)
        self.directory = directory
        self.alive = alive  # is the job of this meta directory still (about to be) running?

    def take(self, meta: Path, want: int) -> list[str]:
        """``want`` GPUs for the job of ``meta`` (the ones it already holds after a restart)."""
        if want <= 0:
            return []
        if want > len(self.devices):
            raise LzError(f"the job asks for {want} GPUs; this landing zone has {len(self.devices)}")
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        held = [d for d in self.devices if self._holder(d) == meta]
        for device in self.devices:
            if len(held) >= want:
                break
            if device in held:
                continue
            holder = self._holder(device)
            if holder is not None and self.alive(holder):
                continue
            if holder is not None:
                (self.directory / device).unlink(missing_ok=True)  # stale: its job ended
            try:
                fd = os.open(self.directory / device, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue  # taken meanwhile
            with os.fdopen(fd, "w") as handle:
                handle.write(str(meta))
            held.append(device)
        if len(held) < want:
            self.release(meta)
            raise NoGpusFree(f"{want} GPU(s) asked, {len(held)} free now")
        (meta / GPU_FILE).write_text(",".join(held) + "\n")
        return held

    def release(self, meta: Path) -> None:
        for device in self.devices:
            if self._holder(device) == meta:
                (self.directory / device).unlink(missing_ok=True)

    def holders(self) -> dict[str, Path]:
        return {d: h for d in self.devices if (h := self._holder(d)) is not None}

    def _holder(self, device: str) -> Path | None:
        try:
            return Path((self.directory / device).read_text().strip())
        except FileNotFoundError:
            return None
