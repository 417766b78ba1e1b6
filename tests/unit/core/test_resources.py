import pytest

from lz.core.errors import ResourceError
from lz.core.resources import Limits, Resources, check_limits, format_time, parse_memory, parse_resources, parse_time


@pytest.mark.parametrize("text,mb", [("4G", 4096), ("512M", 512), ("1T", 1 << 20), ("100", 100), ("2GiB", 2048), (64, 64)])
def test_memory(text: object, mb: int) -> None:
    assert parse_memory(text) == mb  # type: ignore[arg-type]


@pytest.mark.parametrize("text,seconds", [("30", 1800), ("01:00:00", 3600), ("10:30", 630), ("2-00", 172800),
                                          ("1-02:03:04", 93784), (5, 300)])
def test_time(text: object, seconds: int) -> None:
    assert parse_time(text) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("raw,message", [
    ({"cpus": 0}, "cpus must be at least 1"), ({"cpus": "two"}, "not a whole number"),
    ({"memory": "lots"}, "memory 'lots'"), ({"time": "25:99:99"}, "time '25:99:99'"),
    ({"partition": "a;b"}, "partition 'a;b'"), ({"nodelist": "n1"}, "unknown resource 'nodelist'"),
    ({"cpus": True}, "not a whole number"), ({"time": "0"}, "more than zero"),
])
def test_bad_requests(raw: dict, message: str) -> None:
    with pytest.raises(ResourceError, match=message):
        parse_resources(raw)


def test_limits() -> None:
    limits = Limits(max_cpus=4, max_memory_mb=8192, max_time_s=3600, partitions=("debug",))
    check_limits(Resources(cpus=4, memory_mb=8192, time_s=3600, partition="debug"), limits)
    with pytest.raises(ResourceError, match=r"cpus 64 is more than this site allows \(4\)"):
        check_limits(Resources(cpus=64), limits)
    with pytest.raises(ResourceError, match="time 2-00:00:00"):
        check_limits(Resources(time_s=172800), limits)
    with pytest.raises(ResourceError, match="partition 'gpu' is not offered"):
        check_limits(Resources(partition="gpu"), limits)


def test_format_time() -> None:
    assert format_time(59) == "00:00:59" and format_time(86400 + 61) == "1-00:01:01"


@pytest.mark.parametrize("raw,tasks,per_task", [
    ({}, 1, 1), ({"cpus": 4}, 1, 4), ({"distributed": True, "cpus": 4}, 4, 1), ({"tasks": 3, "cpus": 2}, 3, 2),
    ({"nodes": 2}, 2, 1), ({"nodes": 2, "tasks_per_node": 3}, 6, 1), ({"tasks": "5", "nodes": "2"}, 5, 1),
])
def test_task_layout(raw: dict, tasks: int, per_task: int) -> None:
    resources = parse_resources(raw)
    assert (resources.task_count, resources.cpus_per_task) == (tasks, per_task)
    assert resources.multi_task == (tasks > 1)
    assert Resources.from_dict(resources.to_dict()) == resources


def test_single_task_record_unchanged() -> None:
    assert set(Resources(cpus=2).to_dict()) == {"cpus", "memory_mb", "gpus", "time_s", "partition"}


@pytest.mark.parametrize("raw,message", [
    ({"distributed": True, "tasks": 4}, "give either distributed or tasks"),
    ({"distributed": "yes"}, "distributed must be true or false"),
    ({"tasks": 1, "nodes": 2}, r"nodes 2 is more than the job's tasks \(1\)"),
    ({"tasks": 5, "nodes": 2, "tasks_per_node": 2}, "tasks 5 do not fit 2 node"),
    ({"tasks": 0}, "tasks must be at least 1"), ({"nodes": "two"}, "nodes 'two' is not a whole number"),
    ({"tasks": 70000}, "more than any landing zone offers"),
    ({"tasks": 1000, "cpus": 1000}, r"cpus 1000000 \(tasks x cpus per task\) is more than any"),
])
def test_bad_layouts(raw: dict, message: str) -> None:
    with pytest.raises(ResourceError, match=message):
        parse_resources(raw)


def test_limits_count_every_task() -> None:
    limits = Limits(max_cpus=4, max_nodes=1)
    check_limits(parse_resources({"tasks": 2, "cpus": 2}), limits)
    with pytest.raises(ResourceError, match=r"cpus \(all tasks\) 8 is more than this site allows \(4\)"):
        check_limits(parse_resources({"tasks": 4, "cpus": 2}), limits)
    with pytest.raises(ResourceError, match=r"nodes 2 is more than this site allows \(1\)"):
        check_limits(parse_resources({"nodes": 2}), limits)
