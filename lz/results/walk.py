"""Walking a job's tree so that the job cannot redirect the walk.

A job's leftover processes may still be changing its tree while lz walks it. Every directory is
therefore opened relative to its parent's descriptor, with ``O_NOFOLLOW``, from the root down (the
``openat`` way), and whoever reads an entry does so relative to the descriptor of the directory that
listed it: a directory swapped for a symlink mid-walk fails to open (``ELOOP``) instead of leading
the walk, or a read after it, out of the tree. A path string is never resolved below the root.

Kernel calls, not Python, set the pace, so on a large tree forked processes walk shares of it beside
this one (processes, not threads: two threads handing the GIL to and fro on each ``stat`` are
slower than one).
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

ROOT = "."  # how the walked root itself is named among the unreadable

OpenDir = Callable[[str, "int | None"], int]
"""Opens directory ``name`` relative to the descriptor (an absolute path when it is None, for the
root) and returns its descriptor; tests inject failures and races here."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_dir(name: str, dir_fd: int | None = None) -> int:
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def default_workers() -> int:
    """Processes walking a large tree at once: the CPUs this process may run on that nothing else is
    running on now, at most 4, at least 1. A forked walker costs CPU time of its own (the fork, and
    copies of the memory pages both processes write to) and gains wall-clock time only on a CPU that
    would otherwise idle: where the CPUs are busy (with the jobs, say), one walk is quicker."""
    return walkers(len(os.sched_getaffinity(0)), others_running())


def walkers(cpus: int, others: int) -> int:
    """With ``cpus`` to run on and ``others`` tasks running beside this one: the idle CPUs, 1 to 4."""
    return max(1, min(4, cpus - others))


def others_running() -> int:
    """Tasks runnable on this host at this instant besides the caller (``/proc/loadavg``'s fourth
    field; the load averages lag by a minute, long enough to count a job that has just ended); 0
    where it cannot be read."""
    try:
        with open("/proc/loadavg", "rb") as handle:
            return max(0, int(handle.read().split()[3].split(b"/")[0]) - 1)
    except (OSError, ValueError, IndexError):
        return 0


class Visitor(Protocol):
    """What a walk drives: it reads one open directory and names the subdirectories to enter."""

    unreadable: list[str]

    def visit(self, fd: int, rel: str) -> list[str]: ...

    def finish(self) -> Any:
        """What this walker found, picklable (it may travel back from a forked walker)."""


class _Open:
    """A directory's descriptor, kept open while subdirectories wait to be opened relative to it."""

    __slots__ = ("fd", "waiting")

    def __init__(self, fd: int, waiting: int) -> None:
        self.fd, self.waiting = fd, waiting

    def release(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            os.close(self.fd)


Pending = tuple["_Open | None", str, str]
"""(the open parent, or None for the root; the name to open there, or the root's path; relative path)."""


def _visit(item: Pending, visitor: Visitor, opener: OpenDir, into: list[Pending]) -> None:
    parent, name, rel = item
    try:
        fd = opener(name, None if parent is None else parent.fd)
    except OSError:  # gone, not a directory any more (ELOOP: now a symlink), or refused
        visitor.unreadable.append(rel or ROOT)
        return
    finally:
        if parent is not None:
            parent.release()
    try:
        subdirs = visitor.visit(fd, rel)
    except BaseException:
        os.close(fd)
        raise
    if not subdirs:
        os.close(fd)
        return
    here = _Open(fd, len(subdirs))
    prefix = rel + "/" if rel else ""
    into.extend((here, sub, prefix + sub) for sub in subdirs)


def _release_all(pending: list[Pending]) -> None:
    for parent, _, _ in pending:
        if parent is not None:
            parent.release()
    pending.clear()


def walk(pending: list[Pending], visitor: Visitor, opener: OpenDir) -> None:
    """Depth first: at most one descriptor per level is open. ``pending`` is consumed (and its
    descriptors closed, should the visitor raise)."""
    try:
        while pending:
            _visit(pending.pop(), visitor, opener, pending)
    finally:
        _release_all(pending)


def walk_tree(root: str, here: Visitor, spawn: Callable[[int], Visitor], *, opener: OpenDir = open_dir,
              workers: int = 1) -> list[Any]:
    """Walk the tree at ``root`` (a path whose own symlinks are trusted) with ``here``; with several
    workers, ``spawn(i)`` makes the visitor of the i-th forked walker (called in that process).
    Returns what each walker found (``finish()``), this process's first."""
    pending: list[Pending] = [(None, root, "")]
    if workers <= 1:
        walk(pending, here, opener)
        return [here.finish()]
    children: list[tuple[tuple[int, int], list[Pending]]] = []
    shares: list[list[Pending]] = []
    try:
        while pending and len(pending) < 4 * workers:  # breadth first until there is enough to share
            _visit(pending.pop(0), here, opener, pending)
        shares = runs(pending, workers)
        pending.clear()  # each item is in one share now, which releases it once
        for index, share in enumerate(shares[1:], 1):
            if share:
                children.append((_fork_walker(share, index, spawn, opener), share))
        walk(shares[0], here, opener)
        found = []
        while children:
            child, share = children.pop(0)
            result = _gather(child)
            if result is None:  # the child failed: its share is walked again here
                walk(share, here, opener)
            else:
                _release_all(share)
                found.append(result)
        return [here.finish(), *found]
    finally:
        for (pid, read_end), _ in children:  # this process failed: those walkers are of no use now
            os.kill(pid, signal.SIGKILL)
            os.close(read_end)
            os.waitpid(pid, 0)
        for share in (pending, *shares):  # a consumed or released share is empty
            _release_all(share)


_T = TypeVar("_T")


def runs(items: list[_T], count: int) -> list[list[_T]]:
    """``items`` cut into ``count`` runs (the last ones shorter or empty), not dealt out in turn: the
    entries of neighbouring directories lie in the same memory pages (the snapshot walked them in
    this order), and a page that both sides of a fork write to is copied, on each side."""
    size = -(-len(items) // count)
    return [items[i * size:(i + 1) * size] for i in range(count)]


def _fork_walker(share: list[Pending], index: int, spawn: Callable[[int], Visitor],
                 opener: OpenDir) -> tuple[int, int]:
    """A child process walking ``share`` with the descriptors it inherited, its findings pickled into a
    pipe; returns (pid, read end). Forking a threaded daemon is safe here because the child only
    lists, stats, reads and writes its own files, then leaves through ``os._exit`` without running
    any of the parent's exit code. A child that fails sends nothing and its share is walked again."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            visitor = spawn(index)
            walk(list(share), visitor, opener)
            payload = pickle.dumps(visitor.finish(), protocol=pickle.HIGHEST_PROTOCOL)
            with open(write_end, "wb") as pipe:
                pipe.write(payload)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _gather(child: tuple[int, int]) -> Any:
    pid, read_end = child
    with open(read_end, "rb") as pipe:
        data = pipe.read()
    status = os.waitpid(pid, 0)[1]
    return pickle.loads(data) if status == 0 and data else None
