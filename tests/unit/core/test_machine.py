import pytest

from lz.core.errors import InvalidTransition
from lz.core.machine import ACTIVE, EVENTS, STATES, TRANSITIONS, Lifecycle, State


@pytest.fixture(scope="module")
def lifecycle() -> Lifecycle:
    return Lifecycle()


def test_main_path(lifecycle: Lifecycle) -> None:
    state = "received"
    for event, expected in [("build", "building"), ("built", "queued"), ("started", "running"),
                            ("ended", "collecting"), ("clean", "cleaned")]:
        state = lifecycle.next_state(state, event)
        assert state == expected


@pytest.mark.parametrize("state", ACTIVE)
def test_cancel_is_accepted_in_every_non_terminal_state(lifecycle: Lifecycle, state: str) -> None:
    assert lifecycle.next_state(state, "cancel") in STATES


def test_cancel_paths_still_collect(lifecycle: Lifecycle) -> None:
    assert lifecycle.next_state("received", "cancel") == "collecting"
    for state in ("building", "queued", "running"):
        cancelling = lifecycle.next_state(state, "cancel")
        assert cancelling == "cancelling"
        assert lifecycle.next_state(cancelling, "ended") == "collecting"
    assert lifecycle.next_state("collecting", "cancel") == "collecting"


def test_cleaned_is_terminal_and_refuses_everything(lifecycle: Lifecycle) -> None:
    for event in EVENTS:
        with pytest.raises(InvalidTransition, match="already cleaned"):
            lifecycle.next_state("cleaned", event)


def test_invalid_event_is_a_clear_error(lifecycle: Lifecycle) -> None:
    with pytest.raises(InvalidTransition, match="cannot take 'clean'"):
        lifecycle.next_state("running", "clean")
    with pytest.raises(InvalidTransition, match="unknown event"):
        lifecycle.next_state("running", "explode")


def test_every_state_reaches_cleaned() -> None:
    graph: dict[str, set[str]] = {s: set() for s in STATES}
    for t in TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        for source in sources:
            if t["dest"]:
                graph[source].add(t["dest"])
    for start in STATES:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        assert State.CLEANED.value in seen, start
