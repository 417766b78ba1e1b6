"""What the hub keeps of a job's run, read for the API and the web page: the stored results
archive (a tar of results.tar.gz, manifest.json and logs, as the landing zone sent it), its
manifest, single files out of it, and the logs of a running attempt as they arrive."""

from __future__ import annotations

import gzip
import json
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from fastapi.responses import FileResponse

from lz.host.logtail import tail_bytes
from lz.hub.protocol.names import MANIFEST, RESULTS_ARCHIVE
from lz.hub.server.domain import jobs
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import NotFound
from lz.hub.server.hub import Hub
from lz.hub.server.storage import Files

CHUNK = 1 << 16


def results_file(files: Files, row: Any) -> Path:
    if row.results is None or not files.path(row.results).exists():
        raise NotFound(f"job {row.id} has no results yet (it is {row.state})" if row.phase != "finished"
                       else f"job {row.id} has no stored results")
    return files.path(row.results)


def _member(archive: Path, name: str) -> bytes | None:
    with tarfile.open(os.fspath(archive), "r:") as tar:
        try:
            handle = tar.extractfile(tar.getmember(name))
        except KeyError:
            return None
        return handle.read() if handle else None


@contextmanager
def _open_log(files: Files, row: Any, which: str) -> Iterator[IO[bytes] | None]:
    """The log, open: the finished attempt's from its results, else as much of the running
    attempt's as its landing zone has sent; None when there is none (yet)."""
    if row.results is not None and files.path(row.results).exists():
        with tarfile.open(os.fspath(files.path(row.results)), "r:") as tar:
            try:
                member = tar.getmember(which)
            except KeyError:
                member = None
            yield tar.extractfile(member) if member is not None else None
        return
    if row.phase != "finished":
        live = files.path(files.live_log_name(row.id, row.attempt, which))
        if live.exists():
            with open(live, "rb") as handle:
                yield handle
            return
    yield None


def log(files: Files, row: Any, which: str) -> tuple[bytes, bool]:
    """(the log so far, whether it can still grow)."""
    with _open_log(files, row, which) as handle:
        return (handle.read() if handle else b""), row.phase == "finished"


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
    """The bytes of one returned file, streamed out of results.tar.gz inside the stored archive.
    Only a path the manifest lists as a returned regular file is served."""
    if path not in {e["path"] for e in returned_files(manifest(files, row))}:
        raise NotFound(f"job {row.id} returned no file {path!r}")
    outer = tarfile.open(os.fspath(results_file(files, row)), "r:")
    try:
        inner_handle = outer.extractfile(RESULTS_ARCHIVE)
        if inner_handle is None:
            raise NotFound(f"job {row.id} has no results archive")
        # GzipFile reads every gzip member (lz.results.collect writes one per walker, then the end of
        # the archive in another); tarfile's own "r|gz" stops after the first.
        with gzip.GzipFile(fileobj=inner_handle) as unzipped, tarfile.open(fileobj=unzipped, mode="r|") as inner:
            for member in inner:
                if member.name == path and member.isfile():
                    handle = inner.extractfile(member)
                    while handle is not None and (chunk := handle.read(CHUNK)):
                        yield chunk
                    return
    finally:
        outer.close()
    raise NotFound(f"job {row.id}: {path!r} is listed but not in the archive")


def results_download(hub: Hub, who: Principal, job_id: str) -> FileResponse:
    """The stored archive (retention counts from its first download); the web page's too."""
    row = hub.read(jobs.find, who, job_id)
    archive = results_file(hub.files, row)
    hub.write(jobs.mark_downloaded, row.id, hub.now())
    return FileResponse(archive, media_type="application/x-tar", filename=f"{row.id}.tar",
                        headers={"Cache-Control": "no-store"})
