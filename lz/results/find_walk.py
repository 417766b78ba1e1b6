"""The walk after a job done by find(1): it ``lstat``s every entry in C and names only the entries
whose ctime is after the snapshot began (``lz.results.since``), and the directories it passes; this
process then looks at those alone.

Unchanged entries, nearly all of a large tree, never become Python objects, so the walk costs about
what ``find -newer`` does. Each entry with a new ctime is compared alone (``Comparison.entry``). A
directory whose ctime is not new has the same names as before; one whose ctime is new may have lost
some, so it is listed again, without a ``stat`` (``Comparison.relisted``): a name it gained got a new
ctime of its own (creating, linking and renaming on a local filesystem all set the entry's ctime),
and is compared there all the same. A directory the snapshot did not list is compared in full
(``Comparison.visit``).

find only names entries: each directory is opened here as every walk opens it (``lz.results.walk``:
relative to its parent, never through a symlink), so a name find printed cannot lead a read out of
the tree. Names travel NUL-terminated (a newline is a legal character in a name). Where find fails
for any reason (no GNU ``-printf``, a directory it could not read, an entry gone mid-walk) the caller
walks again in Python, which records such things entry by entry.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Protocol

from lz.results.walk import ROOT, OpenDir, open_dir

FIND = "find"
_CHUNK = 1 << 16
_CHANGED, _UNCHANGED_DIR = ord("c"), ord("u")


class Comparer(Protocol):
    """What the find walk drives (``lz.results.changes.Comparison``)."""

    unreadable: list[str]

    def visit(self, fd: int, rel: str) -> list[str]: ...

    def entry(self, fd: int, rel: str, name: str) -> None: ...

    def unchanged(self, rel: str) -> bool: ...

    def relisted(self, fd: int, rel: str) -> set[str] | None: ...


def find_argv(root: str, since_ns: int, program: str = FIND) -> list[str]:
    """find printing ``c<type><relative path>`` for each entry with a ctime after ``since_ns`` and
    ``ud<relative path>`` for each other directory, in the order it walks (a directory before its
    contents), each ended by a NUL."""
    stamp = f"@{since_ns // 1_000_000_000}.{since_ns % 1_000_000_000:09d}"
    return [program, root, "(", "-newerct", stamp, "-printf", "c%y%P\\0", ")",
            "-o", "(", "-type", "d", "-printf", "ud%P\\0", ")"]


def split_records(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """NUL-terminated records from the pieces of find's output as they arrive (pure). Raises
    ``ValueError`` when the output ends inside a record (find was cut off)."""
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        raise ValueError("find's output ends inside a record")


def _pieces(fd: int) -> Iterator[bytes]:
    """What the pipe holds each time it is read: records are handled while find still walks."""
    while chunk := os.read(fd, _CHUNK):
        yield chunk


class _Directories:
    """The descriptors of the directories along the path the walk is at, opened one level at a time
    from the root down; find names a directory before its contents, so each is opened once."""

    def __init__(self, root: str, opener: OpenDir) -> None:
        self.root, self.opener = root, opener
        self.open: list[tuple[str, int]] = []  # (relative path, descriptor), the root first

    def fd(self, rel: str) -> int:
        stack = self.open
        while stack and not _within(rel, stack[-1][0]):
            os.close(stack.pop()[1])
        if not stack:
            stack.append(("", self.opener(self.root, None)))
        at = stack[-1][0]
        for part in (rel[len(at) + 1 if at else 0:].split("/") if rel != at else ()):
            inner = f"{stack[-1][0]}/{part}" if stack[-1][0] else part
            stack.append((inner, self.opener(part, stack[-1][1])))
        return stack[-1][1]

    def close(self) -> None:
        while self.open:
            os.close(self.open.pop()[1])


def _within(rel: str, ancestor: str) -> bool:
    return not ancestor or rel == ancestor or rel.startswith(ancestor + "/")


def find_walk(root: str, since_ns: int, comparer: Comparer, *, opener: OpenDir = open_dir,
              program: str = FIND) -> bool:
    """Compare what find names under ``root`` (a real path) with ``comparer``; False when find failed,
    and then what ``comparer`` holds is of no use (the caller walks again with a fresh one)."""
    env = {**os.environ, "LC_ALL": "C"}
    env.pop("POSIXLY_CORRECT", None)
    try:
        find = subprocess.Popen(find_argv(root, since_ns, program), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, env=env)
    except OSError:  # no find on this host
        return False
    assert find.stdout is not None
    dirs = _Directories(root, opener)
    complete = False
    try:
        complete = _compare(split_records(_pieces(find.stdout.fileno())), comparer, dirs)
    except ValueError:  # find's output cut short or not what was asked for
        pass
    finally:  # also when the comparer raised (writing the archive, say): find must not wait on a full pipe
        dirs.close()
        find.stdout.close()
        if not complete:
            find.kill()
        status = find.wait()
    return complete and status == 0


def _compare(found: Iterator[bytes], comparer: Comparer, dirs: _Directories) -> bool:
    visited: set[str] = set()  # directories compared in full: their entries need no look of their own
    handled: set[str] = set()  # new names of relisted directories, compared already
    failed: list[str] = []  # directories that could not be opened here: what lies below is unreadable
    for record in found:
        what, kind, rel = record[0], record[1:2], os.fsdecode(record[2:])
        if what == _UNCHANGED_DIR:
            if comparer.unchanged(rel):
                continue
            what, kind = _CHANGED, b"d"  # a directory the snapshot did not list: compared in full
        elif what != _CHANGED:
            raise ValueError(f"find printed an unknown record {record[:2]!r}")
        if failed and _below_any(rel, failed):
            continue
        parent, _, name = rel.rpartition("/")
        if rel and parent not in visited and rel not in handled:  # compared with its parent's entry for it
            try:
                comparer.entry(dirs.fd(parent), parent, name)
            except OSError:
                comparer.unreadable.append(parent or ROOT)
                failed.append(parent)
                continue
        if kind == b"d":
            try:
                fd = dirs.fd(rel)
            except OSError:  # gone, or no longer a directory (ELOOP: now a symlink), or refused
                comparer.unreadable.append(rel or ROOT)
                failed.append(rel)
                continue
            new = comparer.relisted(fd, rel)
            if new is None:
                comparer.visit(fd, rel)
                visited.add(rel)
            else:
                prefix = rel + "/" if rel else ""
                handled.update(prefix + name for name in new)
    return True


def _below_any(rel: str, failed: list[str]) -> bool:
    return any(_within(rel, top) for top in failed)
