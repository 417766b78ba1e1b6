"""The landing-zone listing grouped for the hub's page: pilots of one SLURM job (array) of one
owner become one entry; everything else stays as it was (pure: plain dicts in, dicts out)."""

from __future__ import annotations

from typing import Any

from lz.hub.server.domain.zones import grouped


def zone(name: str, owner: str = "alice", group: str | None = None, online: bool = True,
         left: float | None = None, running: int = 0, max_running: int = 1, **more: Any) -> dict[str, Any]:
    return {"name": name, "owner": owner, "online": online, "pilot_group": group,
            "ends_at": None if left is None else 1000.0 + left, "time_left_s": left, "running": running,
            "max_running": max_running, "queue_length": 0, "cpus": 2, "gpus": 0, "memory_mb": 1000,
            "stations": more.get("stations", ["s1"])}


def test_standalone_landing_zones_stay_one_entry_each() -> None:
    listing = [zone("desk"), zone("box", online=False)]
    assert grouped(listing) == [{**listing[1], "group": None}, {**listing[0], "group": None}]
    assert grouped([]) == []


def test_the_pilots_of_one_array_become_one_entry() -> None:
    pilots = [zone("pilot-10", group="500", left=100, running=1, max_running=2),
              zone("pilot-1", group="500", left=300, running=2, max_running=2, stations=["s2"]),
              zone("pilot-2", group="500", online=False, left=None, running=0, max_running=2)]
    [entry] = grouped(pilots)
    assert entry["group"] == "500" and entry["name"] == "pilot" and entry["owner"] == "alice"
    assert [p["name"] for p in entry["pilots"]] == ["pilot-1", "pilot-10", "pilot-2"]
    assert (entry["size"], entry["online"], entry["time_left_s"], entry["ends_at"]) == (3, 2, 300, 1300.0)
    assert (entry["running"], entry["max_running"], entry["cpus"], entry["memory_mb"]) == (3, 6, 6, 3000)
    assert entry["stations"] == ["s1", "s2"]


def test_groups_are_kept_apart_by_job_and_owner_and_sorted_with_the_rest_by_name() -> None:
    listing = [zone("a-0", group="1", left=50), zone("a-1", group="1", left=40),
               zone("b-0", owner="bob", group="1"), zone("gpu-0", group="2"), zone("gpu-1", group="3"),
               zone("c-desk")]
    entries = grouped(listing)
    assert [(e["name"], e["owner"], e["group"]) for e in entries] == [
        ("a", "alice", "1"), ("b-0", "bob", "1"), ("c-desk", "alice", None),
        ("gpu-0", "alice", "2"), ("gpu-1", "alice", "3")]  # a lone pilot's group is named as the pilot
    assert entries[0]["time_left_s"] == 50 and entries[1]["time_left_s"] is None


def test_a_groups_name_is_what_its_pilots_names_share() -> None:
    assert grouped([zone("x1", group="9"), zone("y1", group="9")])[0]["name"] == "x1"  # nothing shared
    assert grouped([zone("gpu2-1", group="9"), zone("gpu2-2", group="9")])[0]["name"] == "gpu2"
    assert grouped([zone("run-0-a100", group="9"), zone("run-1-a100", group="9")])[0]["name"] == "run"
