"""What the hub stores beside its database, as one interface with two backends (a local folder,
S3-compatible object storage): bundles, results, live logs and uploads being received. Names are
relative (``bundles/<job>.tar.gz``, ``results/<job>/attempt-<n>.tar``, ``logs/<job>/attempt-<n>.<which>``)
and are what the database keeps, so a row never depends on where the store is. No ``Path`` of a
stored object leaves a backend: callers stream, seek, commit and remove by name."""

from __future__ import annotations

import abc
import os
import secrets
import shutil
import threading
from collections import Counter
from collections.abc import AsyncIterator, Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

KEPT = ("bundles", "results", "logs")  # what rows point at; ``incoming`` holds uploads being received


@dataclass
class Received:
    """An upload received into the store under a temporary name (``incoming/<token>.part``)."""

    token: str
    name: str
    size: int
    scratch: Path  # a private local folder (``<token>.check``) for the intake check's unpacked copy
    committed: bool = False  # moved into place: nothing of it is left under ``name``


class Store(abc.ABC):
    """The operations the hub needs of its store; every backend behaves the same."""

    def __init__(self) -> None:
        self._live: set[str] = set()  # tokens of uploads a request of this process is receiving
        self._lock = threading.Lock()

    # -- names --------------------------------------------------------------------------------
    @staticmethod
    def bundle_name(job_id: str) -> str:
        return f"bundles/{job_id}.tar.gz"

    @staticmethod
    def results_name(job_id: str, attempt: int) -> str:
        return f"results/{job_id}/attempt-{attempt}.tar"

    @staticmethod
    def live_log_name(job_id: str, attempt: int, which: str) -> str:
        return f"logs/{job_id}/attempt-{attempt}.{which}"

    # -- what each backend implements -----------------------------------------------------------
    @abc.abstractmethod
    def describe(self) -> str:
        """Where the store is, for people (no credentials)."""

    @abc.abstractmethod
    def ensure(self) -> None:
        """Make the store usable (create the tree, or check the bucket answers)."""

    @abc.abstractmethod
    async def _write_upload(self, name: str, chunks: AsyncIterator[bytes], max_bytes: int) -> int:
        """Write ``chunks`` to ``name``, refusing (``TooLarge``) the moment they pass
        ``max_bytes``, leaving nothing behind when refused or cut off; returns the size."""

    @abc.abstractmethod
    def put(self, name: str, data: bytes) -> None:
        """A small object already in memory (results carried inline by a finish) stored under
        ``name`` whole or not at all, replacing an earlier copy of the same name (as ``commit``)."""

    @abc.abstractmethod
    def commit(self, received: Received, name: str) -> None:
        """Put a received upload in place under ``name`` (replacing an earlier copy)."""

    @abc.abstractmethod
    def exists(self, name: str) -> bool: ...

    @abc.abstractmethod
    def size(self, name: str) -> int | None:
        """Bytes of a stored object, None when there is none."""

    @abc.abstractmethod
    def open(self, name: str) -> BinaryIO:
        """A read-only, seekable file of a stored object (FileNotFoundError when missing); read
        on demand, never loaded whole."""

    @abc.abstractmethod
    def open_log(self, name: str) -> BinaryIO | None:
        """A running attempt's live log as much as has arrived, seekable; None when none has."""

    @abc.abstractmethod
    def append_log(self, name: str, offset: int, data: bytes, max_bytes: int) -> int:
        """Append ``data`` if it starts where the stored log ends (a retried chunk is not written
        twice); returns the stored size either way, so the sender can resync. ``TooLarge`` past
        ``max_bytes``."""

    @abc.abstractmethod
    def remove(self, name: str | None) -> bool:
        """Remove one object; whether there was one."""

    @abc.abstractmethod
    def remove_tree(self, prefix: str) -> bool:
        """Remove everything under ``prefix/``; whether there was anything."""

    @abc.abstractmethod
    def listing(self, top: str) -> Iterator[tuple[str, float]]:
        """(name, last modified as a wall-clock time) of every object under ``top/``."""

    @abc.abstractmethod
    def total_size(self) -> int:
        """Bytes stored (what ``lz hub status`` shows)."""

    @abc.abstractmethod
    def response(self, name: str, media_type: str, filename: str | None = None,
                 headers: dict[str, str] | None = None, *, redirect: bool = False) -> Any:
        """An HTTP response that sends a stored object: the file, a stream, or (``redirect``, and
        the store is set to presign) a 307 to a short-lived presigned URL."""

    @abc.abstractmethod
    def sweep(self, needed: Container[str], wall_now: float, grace_s: float) -> Counter[str]:
        """Remove every stored object no row needs (``needed``: names), once older than
        ``grace_s``: a bundle is written before its row, and results are uploaded under a lease
        the caller's read of the rows may predate. Returns the counts by kind."""

    @property
    @abc.abstractmethod
    def scratch_root(self) -> Path:
        """A private local folder for the intake checks' unpacked copies."""

    # -- shared --------------------------------------------------------------------------------
    def is_live(self, token: str) -> bool:
        with self._lock:
            return token in self._live

    def done_with(self, received: Received) -> None:
        """The request that received ``received`` is over: what is left of it may be swept."""
        with self._lock:
            self._live.discard(received.token)

    def release(self, received: Received) -> None:
        """Drop what is left of an upload (nothing, once committed) and let the sweeps see it.
        Called from a request's ``finally``, synchronously: a request cancelled by its client
        going away must still release (an ``await`` there would be cancelled too)."""
        try:
            if not received.committed:
                self.remove(received.name)
            shutil.rmtree(received.scratch, ignore_errors=True)
        finally:
            self.done_with(received)

    async def receive(self, chunks: AsyncIterator[bytes], max_bytes: int) -> Received:
        """Write an upload into the store under a temporary name, refusing it the moment it
        passes ``max_bytes`` (never after filling the store). It counts as live (never swept)
        until the caller's ``release``."""
        token = secrets.token_hex(8)
        received = Received(token, f"incoming/{token}.part", 0, self.scratch_root / f"{token}.check")
        with self._lock:
            self._live.add(token)
        try:
            received.size = await self._write_upload(received.name, chunks, max_bytes)
        except BaseException:
            self.done_with(received)
            raise
        return received

    @abc.abstractmethod
    def sweep_incoming(self, wall_now: float, grace_s: float) -> int:
        """Remove what killed requests left behind (uploads being received, the intake checks'
        scratch folders); returns how many entries went.

        An entry goes when no request of this process writes it and it was last changed more than
        ``grace_s`` ago. At start every entry is dead as far as this process knows, yet several
        hub processes may share one store (behind a load balancer), and one of them may be
        receiving an upload right now: nothing says which process writes an entry, so the grace
        is what protects the others' live uploads (a stall longer than the grace is a dead
        client). The grace is measured on stored times, which are wall-clock times: ``wall_now``
        is ``time.time()``, never a monotonic clock."""

    def sweep_scratch(self, wall_now: float, grace_s: float) -> int:
        if not self.scratch_root.is_dir():
            return 0
        return self.remove_stale(self.scratch_root, wall_now, grace_s, suffix=".check")

    def remove_stale(self, folder: Path, wall_now: float, grace_s: float, suffix: str = "") -> int:
        """Remove the entries of ``folder`` (ending in ``suffix``) that no request of this process
        writes and that were last changed more than ``grace_s`` ago; returns how many went."""
        removed = 0
        for entry in folder.iterdir():
            if not entry.name.endswith(suffix) or self.is_live(entry.name.split(".", 1)[0]):
                continue
            try:
                if wall_now - entry.lstat().st_mtime <= grace_s:
                    continue
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                removed += 1
            except FileNotFoundError:
                continue
        return removed


def private_folder(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
