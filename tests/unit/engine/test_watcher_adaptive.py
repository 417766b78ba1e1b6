"""The watcher's adaptive gap (issue 23): right after a submission, or a look that found a job in a
new phase, the next ``squeue`` comes after the floor; each look that finds nothing new, or finds
more jobs pending in the queue than two rounds of the running, doubles the gap up to the interval; never two looks closer than the
floor, whatever wakes the daemon."""

from pathlib import Path

from lz.core.errors import ControllerUnavailable
from lz.core.layout import JobPaths
from lz.core.records import Observation, Tracked
from lz.engine.watcher import Watcher
from lz.executors.base import Executor


class Queue(Executor):
    """A scheduler's controller whose answer the test sets; counts the calls."""

    def __init__(self) -> None:
        self.phase: str | list[str] = "running"
        self.calls = 0
        self.down = False

    def submit(self, job, argv):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def observe(self, jobs):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.down:
            raise ControllerUnavailable("squeue timed out")
        if isinstance(self.phase, list):  # one phase per job
            return {j.job_id: Observation(p) for j, p in zip(jobs, self.phase)}  # type: ignore[arg-type]
        return {j.job_id: Observation(self.phase) for j in jobs}  # type: ignore[arg-type]

    def cancel(self, jobs):  # type: ignore[no-untyped-def]
        pass


TRACKED = [Tracked("j1", "100", JobPaths.under(Path("/nonexistent"), "j1"))]


def make(now: list[float], queue: Queue) -> Watcher:
    return Watcher(queue, clock=lambda: now[0], interval_s=5, min_interval_s=1, usage_interval_s=30,
                   backoff_max_s=60)


def looks_over(watcher: Watcher, now: list[float], seconds: float, step: float = 0.1) -> list[float]:
    """Tick every ``step`` seconds (a daemon woken often): the times the watcher asked."""
    asked = []
    end = now[0] + seconds
    while now[0] < end:
        if watcher.look(TRACKED).fresh:
            asked.append(round(now[0], 1))
        now[0] += step
    return asked


def test_the_gap_doubles_while_nothing_changes_and_stops_at_the_interval() -> None:
    now, queue = [1000.0], Queue()
    watcher = make(now, queue)
    asked = looks_over(watcher, now, 40)
    gaps = [round(b - a, 1) for a, b in zip(asked, asked[1:])]
    assert gaps[:4] == [1.0, 1.9, 3.8, 4.8]  # the first look found the job: the floor, then doubling
    assert all(g >= 4.75 for g in gaps[3:])  # (less the jitter) up to the interval, as before


def test_a_submission_brings_the_next_look_to_the_floor() -> None:
    now, queue = [1000.0], Queue()
    watcher = make(now, queue)
    looks_over(watcher, now, 30)
    while not watcher.look(TRACKED).fresh:  # just after a look, settled at the interval
        now[0] += 0.1
    assert abs(watcher.next_look_in() - 4.75) < 1e-6  # type: ignore[operator]
    now[0] += 0.5
    watcher.nudge()
    assert abs(watcher.next_look_in() - 0.5) < 1e-6  # type: ignore[operator]
    assert looks_over(watcher, now, 0.45) == [] and len(looks_over(watcher, now, 0.6)) == 1


def test_a_job_in_a_new_phase_keeps_the_gap_at_the_floor() -> None:
    now, queue = [1000.0], Queue()
    watcher = make(now, queue)
    looks_over(watcher, now, 30)
    watcher.nudge()
    queue.phase = "ended"
    first = looks_over(watcher, now, 1.0)
    queue.phase = "running"
    second = looks_over(watcher, now, 1.05)
    assert len(first) == 1 and len(second) == 1


def test_never_two_looks_within_the_floor_however_often_woken() -> None:
    now, queue = [1000.0], Queue()
    watcher = make(now, queue)
    asked = []
    for _ in range(600):  # 60 s of wake-ups every 0.1 s, each with a submission
        watcher.nudge()
        if watcher.look(TRACKED).fresh:
            asked.append(now[0])
        queue.phase = "running" if queue.phase == "ended" else "ended"
        now[0] += 0.1
    assert all(b - a >= 1 - 1e-9 for a, b in zip(asked, asked[1:]))
    assert queue.calls <= 61


def test_behind_a_backed_up_queue_the_gap_grows_whatever_happens() -> None:
    """Jobs waiting in the queue start without lz: a queue that does not move costs an squeue per
    three intervals (BACKLOG_STRETCH), submissions or not."""
    now, queue = [1000.0], Queue()
    queue.phase = "pending"
    watcher = make(now, queue)
    asked = []
    for step in range(600):  # 60 s: a submission every 0.5 s, the phases changing
        if step % 5 == 0:
            watcher.nudge()
        if watcher.look(TRACKED).fresh:
            asked.append(round(now[0], 1))
        now[0] += 0.1
    gaps = [round(b - a, 1) for a, b in zip(asked, asked[1:])]
    assert gaps[:4] == [1.9, 3.8, 7.6, 14.3] and len(asked) <= 7
    queue.phase = "running"  # the queue drained: once seen so, the tail is followed closely again
    tail = looks_over(watcher, now, 17)
    assert len(tail) >= 2 and tail[1] - tail[0] <= 1.15


def test_a_draining_backlog_is_looked_at_before_its_last_two_rounds() -> None:
    """40 jobs on 2 slots, one starting every second: looks grow apart while the queue is long and
    come closer as it shortens, so the last two rounds are followed at the floor as before."""
    now, queue = [1000.0], Queue()
    jobs = [Tracked(f"j{i}", str(100 + i), JobPaths.under(Path("/nonexistent"), f"j{i}")) for i in range(40)]
    watcher = make(now, queue)
    start = now[0]

    def phases() -> list[str]:
        begun = 2 + int(now[0] - start)  # two at once, then one a second; each runs 2 s
        return ["ended" if i < begun - 2 else "running" if i < begun else "pending" for i in range(40)]

    asked = []
    while now[0] - start < 45:
        queue.phase = phases()
        if watcher.look(jobs).fresh:
            asked.append((round(now[0] - start, 1), queue.phase.count("pending")))
        now[0] += 0.1
    assert max(b[0] - a[0] for a, b in zip(asked, asked[1:])) > 5  # past the interval while the queue is long
    last_two_rounds = next(t for t, pending in asked if pending <= 4)
    assert last_two_rounds <= 34 + 1.5  # the queue's fourth-last start (t = 34 s) seen within the floor
    before = [t for t, _ in asked if t < last_two_rounds]
    assert len(before) < last_two_rounds / 5  # fewer than one look per interval until then


def test_the_last_round_of_a_queue_is_followed_at_the_floor() -> None:
    """2 running and 4 pending (the last two rounds on 2 CPUs): each end is seen within the floor."""
    now, queue = [1000.0], Queue()
    four = [Tracked(f"j{i}", str(100 + i), JobPaths.under(Path("/nonexistent"), f"j{i}")) for i in range(6)]
    watcher = make(now, queue)
    queue.phase = ["running", "running", "pending", "pending", "pending", "pending"]
    watcher.look(four)
    asked = []
    for phases in (["ended", "ended", "running", "running", "pending", "pending"],
                   ["ended", "ended", "ended", "running", "running", "pending"],
                   ["ended", "ended", "ended", "ended", "running", "running"],
                   ["ended", "ended", "ended", "ended", "ended", "ended"]):
        queue.phase = phases
        while not watcher.look(four).fresh:
            now[0] += 0.1
        asked.append(now[0])
    assert all(b - a <= 1.05 for a, b in zip(asked, asked[1:]))
    queue.phase = ["running", "running", "pending", "pending", "pending", "pending", "pending"]
    seven = [*four, Tracked("j7", "107", JobPaths.under(Path("/nonexistent"), "j7"))]
    while not watcher.look(seven).fresh:
        now[0] += 0.1
    assert watcher.next_look_in() > 1.5  # type: ignore[operator]  # 5 pending behind 2 running: a backlog


def test_a_fixed_interval_without_a_floor_keeps_its_jitter() -> None:
    """Without ``min_interval_s`` (older callers, tests): one fixed interval, jitter forgiven."""
    now, queue = [1000.0], Queue()
    watcher = Watcher(queue, clock=lambda: now[0], interval_s=5, usage_interval_s=30, backoff_max_s=60)
    asked = looks_over(watcher, now, 20, step=4.8)
    assert len(asked) == 5


def test_a_controller_down_is_left_to_the_back_off() -> None:
    now, queue = [1000.0], Queue()
    watcher = make(now, queue)
    queue.down = True
    watcher.look(TRACKED)
    assert watcher.next_look_in() is None  # no early wake-ups for a controller that does not answer
    watcher.nudge()
    assert not watcher.look(TRACKED).fresh and queue.calls == 1
    asked = looks_over(watcher, now, 10)
    assert asked == [] and queue.calls <= 4  # 2 s, then 4 s: the back-off's own pace
