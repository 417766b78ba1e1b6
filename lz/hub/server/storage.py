"""Bundles and results on disk, beside the database: ``files/bundles/<job>.tar.gz`` and
``files/results/<job>/attempt-<n>.tar``. Private (0700 directories, 0600 files), written under a
temporary name, fsynced and renamed, so a hub killed mid-upload leaves only a temporary file
that the next upload of the same attempt replaces. Moving this to shared or object storage means
replacing this one class (paths in the database are relative to its root)."""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

from lz.host.fs import fsync_dir
from lz.hub.server.errors import TooLarge


class Files:
    def __init__(self, root: Path):
        self.root = root

    def ensure(self, stale_s: float = 3600.0) -> None:
        """Create the tree; drop uploads a killed hub left half-written (old ones only: another
        hub process sharing this directory may be receiving one right now)."""
        for sub in ("", "bundles", "results", "incoming", "logs"):
            path = self.root / sub
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(path, 0o700)
        now = time.time()
        for entry in (self.root / "incoming").iterdir():
            try:
                if now - entry.lstat().st_mtime > stale_s:
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            except FileNotFoundError:
                continue

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

    async def receive(self, chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[Path, int]:
        """Write an upload to a private temporary file, refusing it the moment it passes
        ``max_bytes`` (never after filling the disk)."""
        tmp = self.incoming()
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
