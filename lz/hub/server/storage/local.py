"""The store as a local folder (the default, for one hub host or a shared filesystem):
``files/bundles/<job>.tar.gz``, ``files/results/<job>/attempt-<n>.tar``, ``files/logs/…``. Private
(0700 directories, 0600 files), written under a temporary name in ``incoming/`` (fsynced and
renamed into place), so a hub killed mid-upload leaves only a temporary file there, which a later
sweep removes (``sweep_incoming``)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Container, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lz.host.fs import fsync_dir
from lz.hub.server.errors import TooLarge
from lz.hub.server.storage.base import KEPT, Received, Store, private_folder


class LocalStore(Store):
    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    @property
    def scratch_root(self) -> Path:
        return self.root / "incoming"

    def path(self, relative: str) -> Path:
        """Where a stored object is on disk (this backend's own; tests look there)."""
        return self.root / relative

    def ensure(self) -> None:
        """Create the tree (sweeping ``incoming`` is the caller's: ``sweep_incoming``)."""
        for sub in ("", *KEPT, "incoming"):
            private_folder(self.root / sub)

    def sweep_incoming(self, wall_now: float, grace_s: float) -> int:
        """``<random>.part`` uploads and their ``<random>.check`` intake folders, both in
        ``incoming/``."""
        return self.remove_stale(self.root / "incoming", wall_now, grace_s)

    def sweep(self, needed: Container[str], wall_now: float, grace_s: float) -> Counter[str]:
        """``Store.sweep``, and empty folders (counted as ``folders``)."""
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

    def listing(self, top: str) -> Iterator[tuple[str, float]]:
        for folder, _dirs, names in os.walk(self.root / top):
            for name in names:
                path = Path(folder) / name
                try:
                    yield path.relative_to(self.root).as_posix(), path.lstat().st_mtime
                except FileNotFoundError:
                    continue

    def total_size(self) -> int:
        total = 0
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_blocks * 512
                except FileNotFoundError:
                    continue
        return total

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()

    def size(self, name: str) -> int | None:
        try:
            return (self.root / name).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, name: str) -> BinaryIO:
        return open(self.root / name, "rb")

    def open_log(self, name: str) -> BinaryIO | None:
        try:
            return open(self.root / name, "rb")
        except FileNotFoundError:
            return None

    def append_log(self, name: str, offset: int, data: bytes, max_bytes: int) -> int:
        path = self.root / name
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

    def remove(self, name: str | None) -> bool:
        if not name:
            return False
        try:
            (self.root / name).unlink()
            return True
        except FileNotFoundError:
            return False

    def remove_tree(self, prefix: str) -> bool:
        path = self.root / prefix
        there = path.exists()
        shutil.rmtree(path, ignore_errors=True)
        return there

    async def _write_upload(self, name: str, chunks: AsyncIterator[bytes], max_bytes: int) -> int:
        tmp = self.root / name
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
        return size

    def put(self, name: str, data: bytes) -> None:
        """Written and synced under ``incoming`` first, then renamed into place (a crash leaves an
        ``incoming`` file for the sweep, never a part of an object under its name)."""
        tmp = self.root / "incoming" / f"{secrets.token_hex(8)}.part"
        target = self.root / name
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)

    def commit(self, received: Received, name: str) -> None:
        """Rename the received file into place (replacing an earlier copy of the same name)."""
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(self.root / received.name, target)
        received.committed = True
        fsync_dir(target.parent)

    def response(self, name: str, media_type: str, filename: str | None = None,
                 headers: dict[str, str] | None = None, *, redirect: bool = False) -> Any:
        from fastapi.responses import FileResponse

        return FileResponse(self.root / name, media_type=media_type, filename=filename, headers=headers)
