"""What a landing zone can ever give one job, so intake refuses a job that could never run
instead of accepting it and failing (or, locally, running it on 2 CPUs and calling it a success).

A local landing zone offers this machine; a SLURM gateway leaves the answer to the cluster
(unknown fields are ``None``; ``[limits]`` and ``sbatch`` still refuse there).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from lz.core.errors import ResourceError
from lz.core.resources import Resources, format_memory
from lz.core.value_class import value_class

_NVIDIA_DEVICE = re.compile(r"nvidia[0-9]+")


@value_class
class Capacity:
    """The most one job can have here; ``None`` means unknown (not checked)."""

    cpus: int | None = None
    memory_mb: int | None = None
    gpus: int | None = None
    tasks: int | None = None


def local_capacity(gpus: int | None = None) -> Capacity:
    """This machine: its CPUs, its memory, and its GPUs (as configured, else the NVIDIA devices
    in /dev)."""
    if gpus is None:
        try:
            gpus = sum(1 for name in os.listdir("/dev") if _NVIDIA_DEVICE.fullmatch(name))
        except OSError:
            gpus = None
    return Capacity(cpus=os.cpu_count(), memory_mb=_memory_bytes() >> 20, gpus=gpus, tasks=1)


def _memory_bytes() -> int:
    """This machine's memory: the kernel's count of pages (what psutil reads as MemTotal), without
    importing psutil for it (6 ms of each local ``lz submit``, issue 23)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # a system without these names
        import psutil

        return int(psutil.virtual_memory().total)


def check_capacity(resources: Resources, capacity: Capacity) -> None:
    """Refuse what this landing zone can never give, with both numbers in the message."""
    if capacity.tasks is not None and resources.multi_task and resources.task_count > capacity.tasks:
        # the local executor starts the command once: N copies with ranks would be an MPI
        # launcher of our own, and a job written for srun expects Slurm's variables anyway
        raise ResourceError(f"{resources.task_count} tasks on {resources.nodes or 1} node(s): this landing zone "
                            "runs each job as one task on this machine (distributed jobs need a SLURM landing zone)")
    checks: list[tuple[str, int | None, int | None, Callable[[int], str]]] = [
        ("cpus", resources.total_cpus, capacity.cpus, str),
        ("memory", resources.memory_mb, capacity.memory_mb, format_memory),
        ("gpus", resources.gpus, capacity.gpus, str),
    ]
    for name, asked, most, show in checks:
        if asked is not None and most is not None and asked > most:
            raise ResourceError(f"{name} {show(asked)} is more than this landing zone can give one job ({show(most)})")
