"""``Client`` and ``Job``: submit, follow and collect jobs from Python, on this machine's landing
zone or on a hub. The CLI's job commands are built on them (one implementation); what differs
between the two places lives in ``lz.client.local`` and ``lz.client.remote``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lz.client.errors import Error, Rejected, Timeout, translated

if TYPE_CHECKING:
    from lz.client.target import HubTarget
    from lz.config import Settings
    from lz.core.selection import Selection

LOGS = ("stdout", "stderr", "build.log")


def _attempt_folder(folder: str) -> bool:
    """No folder (the latest attempt's log), or an earlier attempt's (``attempt-2``)."""
    return not folder or (folder.startswith("attempt-") and folder[8:].isascii() and folder[8:].isdigit())


class Backend(Protocol):
    """What a landing zone and a hub each do for the API; jobs are their documented JSON."""

    def submit(self, path: Path, station: str | None, name: str | None, overrides: dict[str, Any]) -> dict[str, Any]: ...
    def get(self, job_id: str) -> dict[str, Any]: ...
    def listing(self, selection: Selection, where: dict[str, str]) -> tuple[list[dict[str, Any]], int, bool]: ...
    def cancel(self, job_id: str) -> dict[str, Any]: ...
    def resubmit(self, job_id: str) -> dict[str, Any]: ...
    def control(self, job_id: str, what: str) -> dict[str, Any]: ...
    def log(self, job_id: str, which: str, offset: int) -> tuple[bytes, bool]: ...
    def unpack_results(self, job_id: str, target: Path, force: bool, only: str | None = None) -> list[str]: ...
    def notifications(self, job_id: str) -> list[dict[str, Any]]: ...
    def running(self) -> bool | None: ...


class JobList(list["Job"]):
    """Jobs, newest first; ``total`` is how many matched in all (more than shown when limited),
    or at least that many when ``total_exact`` is False (a hub counts no further than 1,000)."""

    total: int = 0
    total_exact: bool = True


class Job:
    """One job as last seen: ``data`` is its documented JSON (``lz status --json``); ``refresh()``
    asks again. Ids may be given as an unambiguous prefix locally; ``id`` is always the whole one."""

    def __init__(self, client: Client, data: dict[str, Any]):
        self.client = client
        self.data = data

    def __repr__(self) -> str:
        return f"<lz.client.Job {self.id} {self.name!r} {self.state}" + (f" {self.outcome}>" if self.outcome else ">")

    id = property(lambda self: str(self.data["id"]))
    name = property(lambda self: str(self.data["name"]))
    state = property(lambda self: str(self.data["state"]), doc="received ... cleaned (README: the states)")
    outcome = property(lambda self: self.data.get("outcome"), doc="succeeded, failed, cancelled ...; None until known")
    reason = property(lambda self: self.data.get("reason"))
    exit_code = property(lambda self: self.data.get("exit_code"))
    station = property(lambda self: self.data.get("station"), doc="the hub's Station; None locally")

    @property
    def done(self) -> bool:
        """Cleaned: its outcome is final and its results (if any) are stored."""
        from lz.core.machine import TERMINAL

        return self.state in TERMINAL

    @property
    def succeeded(self) -> bool:
        from lz.core.machine import Outcome

        return self.outcome == Outcome.SUCCEEDED.value

    def refresh(self) -> Job:
        self.data = self.client.backend.get(self.id)
        return self

    def wait(self, timeout: float | None = None, poll_s: float = 1.0,
             on_change: Callable[[Job], None] | None = None) -> Job:
        """Poll until the job is done and return it; ``Timeout`` after ``timeout`` seconds (on the
        monotonic clock). ``on_change`` sees the job each time its state changes."""
        if poll_s <= 0 or (timeout is not None and timeout < 0):
            raise Error("wait: poll_s must be positive and timeout not negative")
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = None
        while True:
            if seen is not None:
                self.refresh()
            if self.state != seen:
                seen = self.state
                if on_change is not None:
                    on_change(self)
            if self.done:
                return self
            if deadline is not None and time.monotonic() >= deadline:
                raise Timeout(f"job {self.id} is still {self.state} after {timeout:g} s", self)
            time.sleep(poll_s if deadline is None else max(0.0, min(poll_s, deadline - time.monotonic())))

    def stream_logs(self, which: str = "stdout", follow: bool = False, poll_s: float = 1.0) -> Iterator[bytes]:
        """The log's bytes as they come: what there is now, and with ``follow`` more until the job
        ends (the finished attempt's log on a hub, else as much of the running one's as it has)."""
        if which.rpartition("/")[2] not in LOGS or not _attempt_folder(which.rpartition("/")[0]):
            raise Error(f"unknown log {which!r}: one of {', '.join(LOGS)}, or attempt-N/stdout or /stderr")
        offset = 0
        while True:
            chunk, final = self.client.backend.log(self.id, which, offset)
            offset += len(chunk)
            if chunk:
                yield chunk
            if final:
                return
            if not chunk:  # caught up with what there is now (an answer may stop short of it)
                if not follow:
                    return
                time.sleep(poll_s)

    def notifications(self) -> list[dict[str, Any]]:
        """What the job sent through ``$LZ_NOTIFY`` so far, oldest first: ``at`` (UNIX seconds)
        and ``text`` each."""
        return self.client.backend.notifications(self.id)

    def logs(self, which: str = "stdout") -> str:
        """The log as text now (stdout, stderr or build.log); bad bytes are replaced."""
        return b"".join(self.stream_logs(which)).decode("utf-8", "replace")

    def results(self, dir: str | os.PathLike[str] | None = None, *, force: bool = False,  # noqa: A002
                on_note: Callable[[str], None] | None = None, task: int | None = None) -> Path:
        """Unpack the job's new and modified files into ``dir`` (default ./JOB_ID; it must be empty
        unless ``force``); its manifest and logs go under ``dir/.lz/``. Returns the folder.
        ``on_note`` hears what was left out (one line each; default: a warning in the log).
        ``task``: of a sweep, that task's folder (``task-<i>/``, its outputs and logs) alone."""
        target = Path(dir) if dir is not None else Path(self.id if task is None else f"{self.id}_{task}")
        only = None if task is None else f"task-{task}"
        for note in self.client.backend.unpack_results(self.id, target, force, only):
            if on_note is None:
                import logging  # here: a submission (most of this module's use) logs nothing

                on_note = logging.getLogger("lz.client").warning
            on_note(note)
        return target

    def cancel(self) -> Job:
        """Cancel in any state; what it wrote so far is still collected."""
        self.data = self.client.backend.cancel(self.id)
        return self

    def stop(self) -> Job:
        """SIGTERM to its processes, the normal cancel after a grace period."""
        return self.control("stop")

    def kill(self) -> Job:
        """SIGKILL to its processes at once."""
        return self.control("kill")

    def pause(self) -> Job:
        return self.control("pause")

    def resume(self) -> Job:
        return self.control("resume")

    def control(self, what: str) -> Job:
        from lz.hub.protocol.lifecycle import Control

        if what not in {c.value for c in Control}:
            raise Error(f"unknown request {what!r}: one of {', '.join(c.value for c in Control)}")
        self.data = self.client.backend.control(self.id, what)
        return self


class Client:
    """Jobs of this machine's landing zone, or of a hub.

    ``Client()`` talks where ``lz status`` does: the hub of ``LZ_HUB`` when that is set, else the
    landing zone of the settings the CLI reads (``LZ_CONFIG``, ``LZ_DB`` ...). ``hub``: a hub URL;
    ``token``: its token file (default ``LZ_TOKEN_FILE``, else ``~/.config/lz/token``). ``config``,
    ``db`` and ``workdir`` are the CLI's ``--config``, ``--db`` and ``--workdir``."""

    def __init__(self, hub: str | None = None, token: str | os.PathLike[str] | None = None, *,
                 config: str | os.PathLike[str] | None = None, db: str | os.PathLike[str] | None = None,
                 workdir: str | os.PathLike[str] | None = None):
        from lz.client.target import resolve

        with translated():
            target = resolve(hub, token)
        if target is not None:
            self.backend: Backend = _remote(target)
            self.hub: str | None = target.url
            return
        if token is not None:
            raise Error("token= is for a hub: give hub=URL too (or set LZ_HUB)")
        from lz.config import load_settings

        flags = {"db": Path(db) if db is not None else None, "workdir": Path(workdir) if workdir is not None else None}
        with translated():
            settings = load_settings(Path(config) if config is not None else None, flags=flags)
        self.backend = _local(settings)
        self.hub = None

    @classmethod
    def for_settings(cls, settings: Settings) -> Client:
        """The landing zone of settings loaded already (the CLI's, with its flags)."""
        client = cls.__new__(cls)
        client.backend, client.hub = _local(settings), None
        return client

    @classmethod
    def for_hub(cls, target: HubTarget) -> Client:
        client = cls.__new__(cls)
        client.backend, client.hub = _remote(target), target.url
        return client

    def __repr__(self) -> str:
        return f"<lz.client.Client {self.hub or 'local landing zone'}>"

    def submit(self, path: str | os.PathLike[str], station: str | None = None, name: str | None = None,
               cpus: str | int | None = None, memory: str | None = None, gpus: str | int | None = None,
               time: str | None = None, partition: str | None = None,  # noqa: A002
               max_attempts: int | None = None, tasks: str | int | None = None, nodes: str | int | None = None,
               tasks_per_node: str | int | None = None, array: str | None = None,
               after: Sequence[str] | None = (), template: str | None = None) -> Job:
        """Hand over a job folder (or a .tar.gz of one). A hub needs ``station``; resources override
        the folder's lz.toml like ``lz submit``'s flags; ``array`` ("0-99%10") makes it a sweep.
        ``after``: jobs it waits for, as ``JOB[:ok|:any|:failed]`` (``lz submit --after``);
        ``template``: one of the Station's (its defaults under them, its bounds held by the hub).
        ``Rejected`` when intake refuses it."""
        path = Path(path)
        if not path.exists():  # a mistyped path is the caller's mistake, not a job that failed
            raise Error(f"{path}: no such file or directory (nothing was submitted)")
        if self.hub is not None and not station:
            raise Error("a hub job needs a Station: submit(path, station=NAME)")
        if self.hub is None and station is not None:
            raise Error("station= is for a hub: Client(hub=URL)")
        if self.hub is None and max_attempts is not None:  # a landing zone never runs a job twice
            raise Error("max_attempts= is for hub jobs: a landing zone runs each job once (nothing was submitted)")
        if self.hub is None and template is not None:
            raise Error("template= is for hub jobs: templates belong to a hub's Stations (nothing was submitted)")
        overrides = {"cpus": _text(cpus), "memory": memory, "gpus": _text(gpus), "time": time,
                     "partition": partition, "max_attempts": max_attempts, **({"array": array} if array else {}),
                     **{k: _text(v) for k, v in (("tasks", tasks), ("nodes", nodes), ("tasks_per_node", tasks_per_node))
                        if v is not None},
                     "after": list(after or ()) or None, "template": template}
        try:
            return Job(self, self.backend.submit(path, station, name, overrides))
        except Rejected as exc:
            if exc.job is None and exc.data is not None:
                exc.job = Job(self, exc.data)
            raise

    def resubmit(self, job_id: str) -> Job:
        """Submit again (a hub's): a new job with that job's files and resources."""
        if self.hub is None:
            raise Error("submitting again is for hub jobs: lz submit the folder again")
        return Job(self, self.backend.resubmit(job_id))

    def job(self, job_id: str) -> Job:
        """One job, with its history (``NotFound`` when there is none such)."""
        return Job(self, self.backend.get(job_id))

    def jobs(self, state: str | tuple[str, ...] | list[str] = (), outcome: str | tuple[str, ...] | list[str] = (),
             name: str | None = None, station: str | None = None, limit: int = 100, all: bool = False,  # noqa: A002
             ) -> JobList:
        """The newest ``limit`` jobs that match (``all``: every one, page after page), newest
        first; the list's ``total`` says how many match in all. States and outcomes take
        ``lz status``'s words (``R``, ``PD``, ``active``); ``name`` a pattern (``sweep-*``, any case)."""
        from lz.core.selection import Selection, check_patterns, parse_outcomes, parse_states

        if limit < 1:
            raise Error("limit must be at least 1")
        with translated():
            selection = Selection(parse_states(_tuple(state)), parse_outcomes(_tuple(outcome)),
                                  check_patterns(_tuple(name or ())), None, None if all else limit)
        return self.select(selection, station=station)

    def select(self, selection: Selection, station: str | None = None, zone: str | None = None) -> JobList:
        """The jobs a ``lz.core.selection.Selection`` matches (``lz status``'s filters: states, outcomes,
        name patterns, ``--since``, a limit), newest first; ``station`` and ``zone`` narrow a hub's."""
        where = {k: v for k, v in {"station": station, "zone": zone}.items() if v is not None}
        found, total, exact = self.backend.listing(selection, where)
        shown = JobList(Job(self, data) for data in found)
        shown.total, shown.total_exact = total, exact
        return shown

    def request(self, job_id: str, what: str) -> Job:
        """Cancel, stop, kill, pause or resume the job ``job_id`` (or a prefix of it locally) in one
        call, without reading it first: what ``lz cancel|stop|kill|pause|resume JOB...`` do."""
        job = Job(self, {"id": job_id})
        return job.cancel() if what == "cancel" else job.control(what)

    def landing_zone_running(self) -> bool | None:
        """Locally: whether a daemon is running on this database (a job waits for one); None on a hub."""
        return self.backend.running()


def _tuple(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _text(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _local(settings: Settings) -> Backend:
    from lz.client.local import LocalBackend

    return LocalBackend(settings)


def _remote(target: HubTarget) -> Backend:
    from lz.client.remote import HubBackend

    return HubBackend(target)
