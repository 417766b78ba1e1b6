"""What the hub keeps of a job's run, read for the API and the web page: the stored results
archive (a tar of results.tar.gz, manifest.json and logs, as the landing zone sent it), its
manifest, single files out of it, and the logs of a running attempt as they arrive."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from fastapi.responses import FileResponse

from lz.core.errors import BundleError
from lz.host.logtail import tail_bytes
from lz.hub.protocol.names import MANIFEST, RESULTS_ARCHIVE
from lz.hub.server.domain import jobs
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import NotFound
from lz.hub.server.hub import Hub
from lz.hub.server.storage import Files
from lz.intake.tar_reader import TarStream, member_index

CHUNK = 1 << 16
MANIFEST_LIMIT = 256 << 20  # a manifest of 100,000 entries is a few tens of MiB


def results_file(files: Files, row: Any) -> Path:
    if row.results is None or not files.path(row.results).exists():
        raise NotFound(f"job {row.id} has no results yet (it is {row.state})" if row.phase != "finished"
                       else f"job {row.id} has no stored results")
    return files.path(row.results)


def _members(archive: Path) -> dict[str, tuple[int, int]]:
    """Where each file of a stored results archive is (offset, size), read with the strict
    streaming reader: the archive came from a landing zone, and ``tarfile`` would load a pax
    header of any size it claims into memory on every view."""
    try:
        with open(archive, "rb") as handle:
            return member_index(handle)
    except BundleError as exc:
        raise NotFound(f"the stored results are damaged ({exc})") from None


class _Window(io.RawIOBase):
    """One member of a stored archive as a read-only, seekable file of its own."""

    def __init__(self, handle: IO[bytes], offset: int, size: int):
        self._handle, self._offset, self._size, self._at = handle, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, where: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._at, os.SEEK_END: self._size}[whence]
        self._at = max(0, min(self._size, base + where))
        return self._at

    def tell(self) -> int:
        return self._at

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._at)
        if want <= 0:
            return 0
        self._handle.seek(self._offset + self._at)
        data = self._handle.read(want)
        buffer[:len(data)] = data
        self._at += len(data)
        return len(data)


@contextmanager
def _open_member(archive: Path, name: str) -> Iterator[IO[bytes] | None]:
    where = _members(archive).get(name)
    if where is None:
        yield None
        return
    with open(archive, "rb") as handle:
        yield io.BufferedReader(_Window(handle, *where), CHUNK)


def _member(archive: Path, name: str, limit: int = MANIFEST_LIMIT) -> bytes | None:
    with _open_member(archive, name) as handle:
        return handle.read(limit) if handle else None


@contextmanager
def _open_log(files: Files, row: Any, which: str) -> Iterator[IO[bytes] | None]:
    """The log, open: the finished attempt's from its results, else as much of the running
    attempt's as its landing zone has sent; None when there is none (yet)."""
    if row.results is not None and files.path(row.results).exists():
        with _open_member(files.path(row.results), which) as handle:
            yield handle
        return
    if row.phase != "finished":
        live = files.path(files.live_log_name(row.id, row.attempt, which))
        if live.exists():
            with open(live, "rb") as handle:
                yield handle
            return
    yield None


def log_from(files: Files, row: Any, which: str, offset: int) -> tuple[Iterator[bytes], int, bool]:
    """(the log's bytes from ``offset`` as chunks, its size when asked, whether it can no longer
    grow): streamed, never loaded whole, however large the log."""
    final = row.phase == "finished"
    with _open_log(files, row, which) as handle:
        size = handle.seek(0, os.SEEK_END) if handle else 0

    def chunks() -> Iterator[bytes]:
        with _open_log(files, row, which) as again:
            if again is None:
                return
            again.seek(min(offset, size))
            left = max(0, size - offset)
            while left and (chunk := again.read(min(CHUNK, left))):
                left -= len(chunk)
                yield chunk

    return chunks(), size, final


def log_tail(files: Files, row: Any, which: str, limit: int) -> tuple[bytes, int, bool]:
    """(the log's last ``limit`` bytes, its size, whether it can still grow), read from its end:
    a page polls this every few seconds, and a log may be far larger than what it shows."""
    with _open_log(files, row, which) as handle:
        data, size = tail_bytes(handle, limit) if handle else (b"", 0)
    return data, size, row.phase == "finished"


def manifest(files: Files, row: Any) -> dict[str, Any] | None:
    if row.results is None or not files.path(row.results).exists():
        return None
    raw = _member(files.path(row.results), MANIFEST)
    try:
        found = json.loads(raw) if raw else None
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def returned_files(document: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The manifest's entries that are in the archive and can be downloaded one by one."""
    if not document:
        return []
    return [e for e in document.get("entries", []) if isinstance(e, dict) and e.get("type") == "file"
            and e.get("status") in ("added", "modified")]


def one_file(files: Files, row: Any, path: str) -> Iterator[bytes]:
    """The bytes of one returned file, streamed out of results.tar.gz inside the stored archive
    by the strict streaming reader (it reads every gzip member: lz.results.collect writes one per
    walker). Only a path the manifest lists as a returned regular file is served."""
    if path not in {e["path"] for e in returned_files(manifest(files, row))}:
        raise NotFound(f"job {row.id} returned no file {path!r}")
    with _open_member(results_file(files, row), RESULTS_ARCHIVE) as inner:
        if inner is None:
            raise NotFound(f"job {row.id} has no results archive")
        try:
            tar = TarStream(cast(BinaryIO, inner))
            for member in tar.members():
                if member.name == path and member.kind == "file":
                    while chunk := tar.read(CHUNK):
                        yield chunk
                    return
        except BundleError as exc:
            raise NotFound(f"job {row.id}: the results archive is damaged ({exc})") from None
    raise NotFound(f"job {row.id}: {path!r} is listed but not in the archive")


def results_download(hub: Hub, who: Principal, job_id: str) -> FileResponse:
    """The stored archive (retention counts from its first download); the web page's too."""
    row = hub.read(jobs.find, who, job_id)
    archive = results_file(hub.files, row)
    hub.write(jobs.mark_downloaded, row.id, hub.now())
    return FileResponse(archive, media_type="application/x-tar", filename=f"{row.id}.tar",
                        headers={"Cache-Control": "no-store"})
