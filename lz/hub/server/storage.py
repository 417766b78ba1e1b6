"""Bundles and results on disk, beside the database: ``files/bundles/<job>.tar.gz`` and
``files/results/<job>/attempt-<n>.tar``. Private (0700 directories, 0600 files), written under a
temporary name in ``incoming/`` (fsynced and renamed into place), so a hub killed mid-upload
leaves only a temporary file there, which a later sweep removes (``sweep_incoming``). Moving
this to shared or object storage means replacing this one class (paths in the database are
relative to its root)."""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections import Counter
from collections.abc import AsyncIterator, Container
from pathlib import Path

from lz.host.fs import fsync_dir
from lz.hub.server.errors import TooLarge

KEPT = ("bundles", "results", "logs")  # what rows point at; ``incoming`` holds uploads being received


class Files:
    def __init__(self, root: Path):
        self.root = root
        self._live: set[str] = set()  # names (without suffix) in incoming/ that a request of this process writes
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Create the tree (sweeping ``incoming`` is the caller's: ``sweep_incoming``)."""
        for sub in ("", *KEPT, "incoming"):
            path = self.root / sub
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(path, 0o700)

    def sweep_incoming(self, wall_now: float, grace_s: float) -> int:
        """Remove what killed requests left in ``incoming/`` (``<random>.part`` uploads and their
        ``<random>.check`` intake folders); returns how many entries went.

        An entry goes when no request of this process writes it and it was last changed more than
        ``grace_s`` ago. At start every entry is dead as far as this process knows, yet several
        hub processes may share one files directory (behind a load balancer), and one of them may
        be receiving an upload right now: nothing says which process writes an entry, so the
        grace is what protects the others' live uploads (an upload appends to its file as bytes
        arrive, which keeps its mtime fresh; a stall longer than the grace is a dead client).
        The grace is measured on file times, which are wall-clock times: ``wall_now`` is
        ``time.time()``, never a monotonic clock."""
        removed = 0
        for entry in (self.root / "incoming").iterdir():
            with self._lock:
                if entry.name.split(".", 1)[0] in self._live:
                    continue
            try:
                if wall_now - entry.lstat().st_mtime <= grace_s:
                    continue
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                removed += 1
            except FileNotFoundError:
                continue
        return removed

    def sweep(self, needed: Container[str], wall_now: float, grace_s: float) -> Counter[str]:
        """Remove every stored file no row needs (``needed``: relative paths), and empty folders,
        once older than ``grace_s``: a bundle is written before its row, and results are
        uploaded under a lease the caller's read of the rows may predate. Returns the counts by
        kind (bundles, results, logs, folders)."""
        removed: Counter[str] = Counter()
        for kind in KEPT:
            top = self.root / kind
            for folder, _dirs, names in os.walk(top, topdown=False):
                for name in names:
                    path = Path(folder) / name
                    if path.relative_to(self.root).as_posix() in needed:
                        continue
                    try:
                        if wall_now - path.lstat().st_mtime > grace_s:
                            path.unlink()
                            removed[kind] += 1
                    except FileNotFoundError:
                        continue
                if Path(folder) != top:
                    try:
                        if not os.listdir(folder) and wall_now - os.lstat(folder).st_mtime > grace_s:
                            os.rmdir(folder)
                            removed["folders"] += 1
                    except OSError:  # gone, or filled meanwhile
                        continue
        return removed

    def size(self) -> int:
        """Bytes stored under the root (what ``lz hub status`` shows)."""
        total = 0
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_blocks * 512
                except FileNotFoundError:
                    continue
        return total

    def path(self, relative: str) -> Path:
        return self.root / relative

    @staticmethod
    def bundle_name(job_id: str) -> str:
        return f"bundles/{job_id}.tar.gz"

    @staticmethod
    def results_name(job_id: str, attempt: int) -> str:
        return f"results/{job_id}/attempt-{attempt}.tar"

    @staticmethod
    def live_log_name(job_id: str, attempt: int, which: str) -> str:
        return f"logs/{job_id}/attempt-{attempt}.{which}"

    def append_log(self, relative: str, offset: int, data: bytes, max_bytes: int) -> int:
        """Append ``data`` if it starts where the stored log ends (a retried chunk is not written
        twice); returns the stored size either way, so the sender can resync."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = os.fstat(fd).st_size
            if offset != size:
                return size
            if size + len(data) > max_bytes:
                raise TooLarge(f"live log is larger than {max_bytes} bytes; the rest comes with the results")
            os.write(fd, data)
            return size + len(data)
        finally:
            os.close(fd)

    def remove_tree(self, relative: str) -> None:
        shutil.rmtree(self.root / relative, ignore_errors=True)

    def incoming(self) -> Path:
        return self.root / "incoming" / f"{secrets.token_hex(8)}.part"

    def done_with(self, tmp: Path) -> None:
        """The request that received ``tmp`` is over: the file (and its ``.check`` folder) may be swept."""
        with self._lock:
            self._live.discard(tmp.name.split(".", 1)[0])

    async def receive(self, chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[Path, int]:
        """Write an upload to a private temporary file, refusing it the moment it passes
        ``max_bytes`` (never after filling the disk). It counts as live (never swept) until the
        caller's ``done_with``."""
        tmp = self.incoming()
        with self._lock:
            self._live.add(tmp.name.split(".", 1)[0])
        size = 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"upload is larger than {max_bytes} bytes")
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            self.done_with(tmp)
            raise
        return tmp, size

    def commit(self, tmp: Path, relative: str) -> None:
        """Rename a received file into place (replacing an earlier copy of the same name)."""
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(tmp, target)
        fsync_dir(target.parent)

    def remove(self, relative: str | None) -> None:
        if relative:
            (self.root / relative).unlink(missing_ok=True)
