"""The channel a running job notifies its owner through: a FIFO in its work directory
(``.lz-notify/notify``, bound into every container with the work directory, named by
``$LZ_NOTIFY``) and a POSIX-sh helper beside it (``.lz-notify/lz-notify "text"``).

The daemon holds each active job's FIFO open read-write and non-blocking: a writer's ``open``
never waits for a reader, and the tick reads what is there without ever waiting (at most
``READ_PER_TICK`` bytes a job, so a flooding job costs a bounded read, then the rate limit drops
its excess). The folder is made after the build's snapshot and removed before collection, so it
never shows in the results. The FIFO lives on the host that runs the daemon: a SLURM job on
another node reaches it only where the work root is on that node too (the single-node cluster,
local jobs); elsewhere ``lz-notify`` says the channel is not read. With ``notify_tcp`` set, jobs get
the TCP channel instead (``$LZ_NOTIFY=host:port`` and ``$LZ_NOTIFY_TOKEN``, ``notify_tcp``); the
FIFO is made all the same and both go through one rate limit per job.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lz.core.job import Job
from lz.core.notifications import (
    CHANNEL_DIR,
    CHANNEL_NAME,
    HELPER_NAME,
    TOKEN_ENV,
    Limits,
    Lines,
    RateLimit,
    admit,
    dropped_note,
    job_token,
)
from lz.host.fs import remove_tree

log = logging.getLogger(__name__)

READ_PER_TICK = 64 << 10
ENV = "LZ_NOTIFY"

HELPER = """#!/bin/sh
# lz-notify TEXT... (or text on stdin): one line to the job's owner, through $LZ_NOTIFY (a FIFO, or
# host:port with $LZ_NOTIFY_TOKEN: the token's line, then the message's, over TCP).
# At most 4096 bytes a message and a few a minute; lz drops the rest and says so.
if [ "$#" -gt 0 ]; then text="$*"; else text=$(cat); fi
line=$(printf '%s' "$text" | tr '\\n\\r' '  ')
if [ -p "${LZ_NOTIFY:-}" ]; then
    printf '%s\\n' "$line" >>"$LZ_NOTIFY"
    exit
fi
case "${LZ_NOTIFY:-}" in
    *:*) ;;
    *) echo "lz-notify: \\$LZ_NOTIFY does not name this job's channel" >&2; exit 2 ;;
esac
host=${LZ_NOTIFY%:*}; host=${host#[}; host=${host%]}; port=${LZ_NOTIFY##*:}
if command -v python3 >/dev/null 2>&1; then
    printf '%s\\n%s\\n' "${LZ_NOTIFY_TOKEN:-}" "$line" | python3 -c '
import socket, sys
data = sys.stdin.buffer.read()
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10) as s:
    s.sendall(data); s.shutdown(socket.SHUT_WR); said = s.recv(200)
sys.stderr.write(said.decode("utf-8", "replace")); sys.exit(1 if said else 0)' "$host" "$port"
elif command -v bash >/dev/null 2>&1; then
    printf '%s\\n%s\\n' "${LZ_NOTIFY_TOKEN:-}" "$line" | bash -c 'exec 3<>"/dev/tcp/$0/$1" && cat >&3' "$host" "$port"
else
    printf '%s\\n%s\\n' "${LZ_NOTIFY_TOKEN:-}" "$line" | nc -w 10 "$host" "$port"
fi
"""


def channel_dir(work: Path) -> Path:
    return work / CHANNEL_DIR


def is_ours(work: Path) -> bool:
    """Only lz makes a FIFO there: intake refuses special files in a job's folder."""
    try:
        return stat.S_ISFIFO(os.lstat(channel_dir(work) / CHANNEL_NAME).st_mode)
    except OSError:
        return False


def open_channel(work: Path) -> bool:
    """Make the folder, FIFO and helper (again, after a crash); False when the job's own files
    already use the name (that job gets no channel)."""
    folder = channel_dir(work)
    if is_ours(work):
        remove_tree(folder)
    if os.path.lexists(folder):
        log.warning("%s: the job has its own %s; it gets no notification channel", work, CHANNEL_DIR)
        return False
    folder.mkdir(mode=0o700)
    os.mkfifo(folder / CHANNEL_NAME, 0o600)
    helper = folder / HELPER_NAME
    helper.write_text(HELPER, encoding="utf-8")
    helper.chmod(0o700)
    return True


def close_channel(work: Path) -> None:
    if is_ours(work):
        remove_tree(channel_dir(work))


def environment(work_inside: str, job_id: str = "", tcp: TcpChannel | None = None) -> dict[str, str]:
    """What the job's environment gets: the FIFO's path as the job sees it, or with the TCP
    channel its address and the job's token."""
    if tcp is not None:
        return {ENV: tcp.address, TOKEN_ENV: job_token(tcp.key, job_id)}
    return {ENV: f"{work_inside}/{CHANNEL_DIR}/{CHANNEL_NAME}"}


class TcpChannel(Protocol):
    """What the reader and the environment need of ``notify_tcp.TcpListener``."""

    address: str
    key: bytes

    def allow(self, job_ids: Iterable[str]) -> None: ...

    def take(self) -> dict[str, tuple[list[bytes], int]]: ...

    def close(self) -> None: ...


@dataclass
class _Open:
    fd: int
    lines: Lines
    bucket: RateLimit
    kept: int


@dataclass
class NotificationReader:
    """Reads the channels of the jobs it is shown each tick, stores what passes the limits, and
    closes (after a last read) the channels of jobs no longer shown."""

    save: Callable[[dict[str, list[tuple[float, str]]]], object]
    count: Callable[[Sequence[str]], dict[str, int]]
    paths: Callable[[Job], Path]  # the job's work directory
    limits: Limits = field(default_factory=Limits)
    tcp: TcpChannel | None = None  # with ``notify_tcp``: lines that came over TCP, admitted like the FIFO's
    _open: dict[str, _Open] = field(default_factory=dict)
    _absent: set[str] = field(default_factory=set)  # no channel (built before lz had them): not tried again
    # the open FIFOs: one poll(2) a tick says which hold data, instead of a read (and its EAGAIN) per job
    _poller: select.poll = field(default_factory=select.poll)

    def poll(self, jobs: Sequence[Job], now: float) -> int:
        """One non-blocking pass; returns how many messages were stored."""
        shown = {j.id: j for j in jobs}
        messages: dict[str, list[tuple[float, str]]] = {}
        if self.tcp is not None:
            self._take_tcp(now, messages)  # before a job that ended is closed: its last words count
        for job_id in [i for i in self._open if i not in shown]:
            self._collect(job_id, now, messages, last=True)
        self._absent &= set(shown)
        new = [i for i in shown if i not in self._open and i not in self._absent]
        kept = self.count(new) if new else {}
        for job_id in new:
            fd = _open_fifo(channel_dir(self.paths(shown[job_id])) / CHANNEL_NAME)
            if fd is None:
                self._absent.add(job_id)
            elif fd >= 0:
                self._open[job_id] = _Open(fd, Lines(self.limits.max_bytes), RateLimit(self.limits), kept.get(job_id, 0))
                self._poller.register(fd, select.POLLIN)
        ready = {fd for fd, _ in self._poller.poll(0)} if self._open else set()
        for job_id in list(self._open):
            if job_id in shown and self._open[job_id].fd in ready:  # nothing to read: nothing to do
                self._collect(job_id, now, messages, last=False)
        if self.tcp is not None:
            self.tcp.allow(self._open)
        if messages:
            self.save(messages)
        return sum(len(m) for m in messages.values())

    def close(self) -> None:
        for job_id in list(self._open):
            self._close(job_id)
        if self.tcp is not None:
            self.tcp.close()

    def _take_tcp(self, now: float, messages: dict[str, list[tuple[float, str]]]) -> None:
        assert self.tcp is not None
        for job_id, (lines, dropped) in self.tcp.take().items():
            channel = self._open.get(job_id)
            if channel is None:
                continue  # ended in between: as a FIFO closed
            channel.bucket.dropped += dropped
            texts = admit(lines, channel.bucket, now, channel.kept, self.limits)
            channel.kept += len(texts)
            if texts:
                messages.setdefault(job_id, []).extend((now, t) for t in texts)

    def _close(self, job_id: str) -> None:
        fd = self._open.pop(job_id).fd
        self._poller.unregister(fd)
        os.close(fd)

    def _collect(self, job_id: str, now: float, messages: dict[str, list[tuple[float, str]]], last: bool) -> None:
        channel = self._open[job_id]
        data = _read_some(channel.fd, READ_PER_TICK)
        lines = channel.lines.feed(data)
        if last:
            lines += channel.lines.flush()
            self._close(job_id)
        texts = admit(lines, channel.bucket, now, channel.kept, self.limits)
        if last and channel.bucket.dropped and channel.kept + len(texts) < self.limits.per_job:
            texts.append(dropped_note(channel.bucket.dropped, self.limits))  # the job ended: say so now
        channel.kept += len(texts)
        if texts:
            messages.setdefault(job_id, []).extend((now, t) for t in texts)


def _open_fifo(path: Path) -> int | None:
    """Read-write (so no writer's open waits and no read sees an end), non-blocking, never
    following a symlink; None when it is not there or not a FIFO, -1 when it could not be opened
    now (out of file descriptors: tried again next tick)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            log.warning("notification channel %s: %s; tried again next tick", path, exc.strerror)
            return -1
        return None
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _read_some(fd: int, most: int) -> bytes:
    chunks: list[bytes] = []
    left = most
    while left > 0:
        try:
            chunk = os.read(fd, min(left, 65536))
        except BlockingIOError:
            break
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            break
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
