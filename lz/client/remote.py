"""The API on a hub, over its HTTP API (``lz.hub.agent.client.HubClient``: retries, timeouts, the
token refreshed when due). A hub's refusals become the API's typed errors, with the hub's line."""

from __future__ import annotations

import os
import secrets
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lz.client.errors import Error, NotFound, Refused, Rejected, Unavailable, translated
from lz.hub.protocol.names import RESULT_FILES

if TYPE_CHECKING:
    from lz.client.target import HubTarget
    from lz.core.selection import Selection

PAGE = 1000  # the most the hub gives in one page
MAX_LOG_READ = 16 << 20  # bytes of a log taken from one answer, whatever the hub sends (the caller loops)
REFUSED_AT_INTAKE = (413, 422)  # a submission's: too large, or intake's one line about lz.toml


@contextmanager
def hub_errors(rejected: tuple[int, ...] = ()) -> Iterator[None]:
    """The hub client's errors as the API's: 404 ``NotFound``, ``rejected`` statuses ``Rejected``,
    any other 4xx ``Refused``, no answer after the retries ``Unavailable``."""
    from lz.hub.agent.client import HubRefused, HubUnavailable

    with translated():
        try:
            yield
        except HubRefused as exc:
            if exc.status == 404:
                raise NotFound(str(exc)) from None
            if exc.status in rejected:
                raise Rejected(str(exc)) from None
            raise Refused(str(exc), exc.status) from None
        except HubUnavailable as exc:
            raise Unavailable(str(exc)) from None


def _job(job_id: str) -> str:
    return f"/api/v1/jobs/{quote(job_id, safe='')}"


def hub_params(selection: Selection, where: dict[str, str]) -> dict[str, Any]:
    """``GET /api/v1/jobs``'s query parameters for a selection and the hub's own filters
    (station, zone); the limit is the pager's."""
    params: dict[str, Any] = dict(where)
    if selection.states:
        params["state"] = list(selection.states)
    if selection.outcomes:
        params["outcome"] = list(selection.outcomes)
    if selection.names:
        params["name"] = list(selection.names)
    if selection.since is not None:
        params["since"] = repr(selection.since)
    return params


def pack_folder(folder: Path, target: Path) -> None:
    """A .tar.gz of the folder (links kept as links, nothing followed); the hub checks it."""
    with tarfile.open(target, "w:gz") as tar:
        tar.add(folder, arcname=folder.name or "job", recursive=True)


def safe_name(name: str) -> str | None:
    """The folder's name as the hub accepts one (its default job name), else None."""
    ok = name[:64] and name[0].isalnum() and all(c.isalnum() or c in "._-" for c in name[:64])
    return name[:64] if ok else None


class HubBackend:
    def __init__(self, target: HubTarget):
        with hub_errors():
            self.http = target.client()

    def submit(self, path: Path, station: str | None, name: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
        folder = path.name
        for suffix in (".tar.gz", ".tgz", ".tar"):
            folder = folder.removesuffix(suffix)
        params = {k: v for k, v in {**overrides, "name": name, "key": secrets.token_urlsafe(16),
                                    "folder": safe_name(folder)}.items() if v is not None}
        with tempfile.TemporaryDirectory(prefix="lz-submit-") as tmp, hub_errors(REFUSED_AT_INTAKE):
            upload = path if path.is_file() else Path(tmp) / "job.tar.gz"
            if path.is_dir():
                pack_folder(path, upload)
            # the key makes the retries of one upload one job (the hub answers the first one's)
            return dict(self.http.upload("POST", f"/api/v1/stations/{quote(str(station), safe='')}/jobs", upload,
                                         "application/gzip", params=params, timeout_s=600))

    def get(self, job_id: str) -> dict[str, Any]:
        with hub_errors():
            return dict(self.http.get(_job(job_id)))

    def listing(self, selection: Selection, where: dict[str, str]) -> tuple[list[dict[str, Any]], int, bool]:
        """The newest ``selection.limit`` jobs (None: all), newest first, page after page
        (``before=`` the previous page's ``X-Lz-Next``), and how many match in all (or at least,
        past the hub's count limit); the hub filters (``hub_params``)."""
        query = hub_params(selection, where)
        limit = selection.limit
        found: list[dict[str, Any]] = []
        before: str | None = None
        total, exact = 0, True
        with hub_errors():
            while limit is None or len(found) < limit:
                size = PAGE if limit is None else min(PAGE, limit - len(found))
                answer = self.http.request("GET", "/api/v1/jobs", params={**query, "limit": size,
                                                                         **({"before": before} if before else {})})
                found += answer.json()
                total = int(answer.headers.get("X-Lz-Total", len(found)))
                exact = answer.headers.get("X-Lz-Total-Exact", "true") != "false"
                before = answer.headers.get("X-Lz-Next")
                if not before:
                    break
        return found, total, exact

    def cancel(self, job_id: str) -> dict[str, Any]:
        with hub_errors():
            return dict(self.http.post(_job(job_id) + "/cancel"))

    def resubmit(self, job_id: str) -> dict[str, Any]:
        with hub_errors():  # the key makes a retried request one job
            return dict(self.http.post(_job(job_id) + "/resubmit", params={"key": secrets.token_urlsafe(16)}))

    def control(self, job_id: str, what: str) -> dict[str, Any]:
        with hub_errors():
            return dict(self.http.post(_job(job_id) + "/control", {"action": what}))

    def log(self, job_id: str, which: str, offset: int) -> tuple[bytes, bool]:
        """At most ``MAX_LOG_READ`` bytes from ``offset`` (read as a stream, never the whole answer);
        final only when the hub says so and nothing of its answer was left unread."""
        import requests

        with hub_errors():
            response = self.http.request("GET", f"{_job(job_id)}/logs/{quote(which, safe='')}",
                                         params={"offset": offset}, stream=True)
        try:
            chunk = response.raw.read(MAX_LOG_READ + 1, decode_content=True)
        except requests.RequestException as exc:
            raise Unavailable(f"log from {self.http.url} broke off ({type(exc).__name__})") from None
        finally:
            response.close()
        final = response.headers.get("X-Lz-Final") == "1" and len(chunk) <= MAX_LOG_READ
        return chunk[:MAX_LOG_READ], final

    def notifications(self, job_id: str) -> list[dict[str, Any]]:
        with hub_errors():
            return list(self.http.get(_job(job_id) + "/notifications")["notifications"])

    def unpack_results(self, job_id: str, target: Path, force: bool, only: str | None = None) -> list[str]:
        from lz.results.unpack import extract_results

        with hub_errors(), tempfile.TemporaryDirectory(prefix="lz-results-") as tmp:
            archive = Path(tmp) / "results.tar"
            self.http.download(_job(job_id) + "/results", archive, timeout_s=600)
            stored = Path(tmp) / "stored"
            extract_stored(archive, stored)
            return extract_results(stored, target, force=force, only=only)

    def running(self) -> None:
        return None


def extract_stored(archive: Path, dest: Path) -> None:
    """The hub's results tar: only the known plain files, nothing else (it came over a network)."""
    dest.mkdir(mode=0o700)
    with tarfile.open(archive, "r:") as tar:
        for member in tar:
            if member.name not in RESULT_FILES or not member.isreg():
                raise Error(f"results of the hub hold an unexpected entry {member.name[:80]!r}")
            source = tar.extractfile(member)
            assert source is not None
            fd = os.open(dest / member.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle, source:
                while chunk := source.read(1 << 20):
                    handle.write(chunk)
