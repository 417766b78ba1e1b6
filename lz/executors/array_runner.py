"""The local executor's sweep runner: ``array_runner.py THROTTLE INDICES TASK_SH JOB_SH META TIME -- ARGV...``.

It runs under job.sh like any local job (so its pid and exit files make the array one job that a
restarted daemon adopts) and starts each task through ``array_task.sh`` with ``LZ_ARRAY_INDEX``,
at most THROTTLE at once. A task whose ``META/task-<i>/cancel-requested`` mark appears is skipped
if it has not started, or signalled (SIGTERM to its processes) if it has. TIME (seconds, 0: none) is
each task's limit, as SLURM applies ``--time`` to each task of an array: past it the task gets
SIGTERM (``time-limit-reached`` marked first), SIGKILL after KILL_GRACE_S. Its exit status is 0 only
if every task's was, else the first failing task's. Standard library only: it runs outside lz.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CANCEL_MARK = "cancel-requested"
TIMEOUT_MARK = "time-limit-reached"
POLL_S = 0.1
KILL_GRACE_S = 10.0


def main(args: list[str]) -> int:
    throttle, indices_text, task_sh, job_sh, meta, time_text = args[:6]
    argv = args[7:] if args[6:7] == ["--"] else args[6:]
    limit_s = float(time_text)
    started: dict[int, float] = {}
    waiting = [int(i) for i in indices_text.split(",") if i]
    limit = max(1, int(throttle))
    running: dict[int, subprocess.Popen[bytes]] = {}
    codes: dict[int, int] = {}
    signalled: set[int] = set()
    stopping = False

    def stop(_signum: int, _frame: object) -> None:  # lz cancel of the whole array: no new task starts
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    while waiting or running:
        for index, proc in list(running.items()):
            if proc.poll() is not None:
                codes[index] = proc.returncode
                del running[index]
            elif index not in signalled and _marked(meta, index):
                signalled.add(index)
                _signal_tree(proc.pid, signal.SIGTERM)
            elif limit_s and time.monotonic() - started[index] > limit_s:
                timed_out = Path(meta) / f"task-{index}" / TIMEOUT_MARK
                if not timed_out.exists():
                    timed_out.parent.mkdir(parents=True, exist_ok=True)
                    timed_out.write_text(f"{time.time()}\n")
                    _signal_tree(proc.pid, signal.SIGTERM)
                elif time.monotonic() - started[index] > limit_s + KILL_GRACE_S:
                    _signal_tree(proc.pid, signal.SIGKILL)
        if stopping:
            waiting.clear()
        for index in [i for i in waiting if _marked(meta, i)]:
            waiting.remove(index)  # cancelled before it started: it never runs
        while waiting and len(running) < limit:
            index = waiting.pop(0)
            started[index] = time.monotonic()
            running[index] = subprocess.Popen(["/bin/sh", task_sh, job_sh, meta, *argv],
                                              env={**os.environ, "LZ_ARRAY_INDEX": str(index)},
                                              stdin=subprocess.DEVNULL)
        time.sleep(POLL_S)
    failed = [code for _, code in sorted(codes.items()) if code != 0]
    return failed[0] if failed else (143 if stopping else 0)


def _marked(meta: str, index: int) -> bool:
    return (Path(meta) / f"task-{index}" / CANCEL_MARK).exists()


def _signal_tree(pid: int, signum: int) -> None:
    """The task's wrapper traps SIGTERM (it must record the exit status): its descendants get it."""
    for child in _descendants(pid):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            continue


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
