"""A landing zone refuses at intake what it can never give one job (issue 8, defect 13)."""

from __future__ import annotations

import os

import psutil
import pytest

from lz.core.errors import ResourceError
from lz.core.resources import Resources
from lz.intake.capacity import Capacity, check_capacity, local_capacity
from tests.unit.corpus import bad_input, report_to


@pytest.fixture(autouse=True)
def _corpus(request: pytest.FixtureRequest) -> None:
    report_to(request.config)


def test_local_capacity_is_this_machine() -> None:
    here = local_capacity(gpus=3)
    assert here.cpus == os.cpu_count() and here.gpus == 3
    assert here.memory_mb == psutil.virtual_memory().total >> 20
    assert local_capacity().gpus == len([d for d in os.listdir("/dev") if d.removeprefix("nvidia").isdigit()
                                         and d.startswith("nvidia")])


@pytest.mark.parametrize("resources,match", [
    (Resources(cpus=100_000_000), r"cpus 100000000 is more than this landing zone can give one job \(2\)"),
    (Resources(memory_mb=1 << 20), r"memory 1024G is more than this landing zone can give one job \(2G\)"),
    (Resources(gpus=1), r"gpus 1 is more than this landing zone can give one job \(0\)"),
])
def test_beyond_capacity_is_refused_with_the_numbers(resources: Resources, match: str) -> None:
    with bad_input(ResourceError, match):
        check_capacity(resources, Capacity(cpus=2, memory_mb=2048, gpus=0))


def test_within_or_unknown_capacity_is_fine() -> None:
    check_capacity(Resources(cpus=2, memory_mb=2048, gpus=0), Capacity(cpus=2, memory_mb=2048, gpus=0))
    check_capacity(Resources(cpus=64, memory_mb=1 << 20, gpus=8), Capacity())  # SLURM: the cluster decides


def test_a_local_landing_zone_refuses_several_tasks_in_one_line() -> None:
    here = Capacity(cpus=2, memory_mb=2048, gpus=0, tasks=1)
    check_capacity(Resources(cpus=2, distributed=True, tasks=None, nodes=None), Capacity(cpus=2))
    with pytest.raises(ResourceError, match=r"2 tasks on 1 node\(s\): this landing zone runs each job as one task "
                                            r"on this machine \(distributed jobs need a SLURM landing zone\)"):
        check_capacity(Resources(cpus=2, distributed=True), here)
    with pytest.raises(ResourceError, match=r"cpus 4 is more than"):  # every task's CPUs count
        check_capacity(Resources(cpus=2, tasks=2), Capacity(cpus=2))
    check_capacity(Resources(cpus=1, distributed=True), here)  # distributed over one CPU: one task
