"""What the hub keeps of a job's run, read for the API and the web page: the stored results
archive (a tar of results.tar.gz, manifest.json and logs, as the landing zone sent it), its
manifest, single files out of it, and the logs of a running attempt as they arrive."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, BinaryIO, cast

from lz.core.errors import BundleError
from lz.host.logtail import tail_bytes
from lz.hub.protocol.names import MANIFEST, RESULTS_ARCHIVE
from lz.hub.server.domain import jobs
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import NotFound
from lz.hub.server.hub import Hub
from lz.hub.server.storage import Store
from lz.intake.tar_reader import TarStream, member_index

CHUNK = 1 << 16
MANIFEST_LIMIT = 256 << 20  # a manifest of 100,000 entries is a few tens of MiB


def results_file(files: Store, row: Any) -> str:
    """The stored name of the job's results archive (NotFound when there is none)."""
    if row.results is None or not files.exists(row.results):
        raise NotFound(f"job {row.id} has no results yet (it is {row.state})" if row.phase != "finished"
                       else f"job {row.id} has no stored results")
    return str(row.results)


def _members(handle: IO[bytes]) -> dict[str, tuple[int, int]]:
    """Where each file of a stored results archive is (offset, size), read with the strict
    streaming reader: the archive came from a landing zone, and ``tarfile`` would load a pax
    header of any size it claims into memory on every view."""
    try:
        return member_index(cast(BinaryIO, handle))
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
def _open_member(files: Store, archive: str, name: str) -> Iterator[IO[bytes] | None]:
    with files.open(archive) as handle:
        where = _members(handle).get(name)
        yield None if where is None else io.BufferedReader(_Window(handle, *where), CHUNK)


def _member(files: Store, archive: str, name: str, limit: int = MANIFEST_LIMIT) -> bytes | None:
    """A small member whole (up to ``limit``), read a chunk at a time: ``read(limit)`` would
    allocate ``limit`` bytes up front on every view."""
    with _open_member(files, archive, name) as handle:
        if handle is None:
            return None
        out = bytearray()
        while len(out) < limit and (chunk := handle.read(min(CHUNK, limit - len(out)))):
            out += chunk
        return bytes(out)


@contextmanager
def _open_log(files: Store, row: Any, which: str) -> Iterator[IO[bytes] | None]:
    """The log, open: the finished attempt's from its results, else as much of the running
    attempt's as its landing zone has sent; None when there is none (yet)."""
    if row.results is not None and files.exists(row.results):
        with _open_member(files, row.results, which) as handle:
            yield handle
        return
    if row.phase != "finished":
        live = files.open_log(files.live_log_name(row.id, row.attempt, which))
        if live is not None:
            with live:
                yield live
            return
    yield None


def log_from(files: Store, row: Any, which: str, offset: int) -> tuple[Iterator[bytes], int, bool]:
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


def log_tail(files: Store, row: Any, which: str, limit: int) -> tuple[bytes, int, bool]:
    """(the log's last ``limit`` bytes, its size, whether it can still grow), read from its end:
    a page polls this every few seconds, and a log may be far larger than what it shows."""
    with _open_log(files, row, which) as handle:
        data, size = tail_bytes(handle, limit) if handle else (b"", 0)
    return data, size, row.phase == "finished"


def manifest(files: Store, row: Any) -> dict[str, Any] | None:
    if row.results is None or not files.exists(row.results):
        return None
    raw = _member(files, row.results, MANIFEST)
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


def one_file(files: Store, row: Any, path: str) -> Iterator[bytes]:
    """The bytes of one returned file, streamed out of results.tar.gz inside the stored archive
    by the strict streaming reader (it reads every gzip member: lz.results.collect writes one per
    walker). Only a path the manifest lists as a returned regular file is served."""
    if path not in {e["path"] for e in returned_files(manifest(files, row))}:
        raise NotFound(f"job {row.id} returned no file {path!r}")
    with _open_member(files, results_file(files, row), RESULTS_ARCHIVE) as inner:
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


def results_download(hub: Hub, who: Principal, job_id: str) -> Any:
    """The stored archive (retention counts from its first download); the web page's too: the
    file, a stream from object storage, or a redirect to a short-lived presigned URL."""
    row = hub.read(jobs.find, who, job_id)
    archive = results_file(hub.files, row)
    hub.write(jobs.mark_downloaded, row.id, hub.now())
    return hub.files.response(archive, "application/x-tar", filename=f"{row.id}.tar",
                              headers={"Cache-Control": "no-store"}, redirect=True)
