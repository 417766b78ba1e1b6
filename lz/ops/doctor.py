"""``lz doctor``: what a landing zone needs on this machine, one check at a time, each failure with
its fix. Checks only look (a tiny build and a one-task ``srun`` are the most they do) and leave
nothing behind; commands go through an injectable runner, the hub through an injectable fetch.
"""

from __future__ import annotations

import email.utils
import os
import secrets
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lz.config import Settings
from lz.core.errors import UserError
from lz.host.process import CommandRunner, CommandTimeout, run_command
from lz.host.secret_file import open_to_others
from lz.host.subids import SUBGID, SUBUID, fakeroot_ready
from lz.hub.protocol.transport import check_hub_url

Verdict = Literal["ok", "warn", "fail", "skip"]  # only "fail" makes `lz doctor` exit non-zero
MAX_SKEW_S = 5.0
HUB_CHECK_PATH = "/api/v1/whoami"
"""What the hub check asks for, with the token: an endpoint that needs the token, so the check is a
token check too (401 without a valid one)."""


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.verdict:<4}  {self.name}: {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.verdict in ("fail", "warn") and self.fix else "")


@dataclass(frozen=True)
class HubAnswer:
    status: int  # HTTP status; 0: no answer
    date: str | None  # the Date header
    error: str = ""


Fetch = Callable[[str, str | None, float], HubAnswer]


def checks(settings: Settings, *, runner: CommandRunner = run_command, hub: str | None = None,
           token_file: Path | None = None, fetch: Fetch | None = None, clock: Callable[[], float] = time.time,
           build: bool = True, recorded_runtime: str | None = None,
           subids: tuple[Path, Path] = (SUBUID, SUBGID)) -> Iterator[Check]:
    """Every check, in order (a generator: the CLI prints each line as soon as it is known).
    ``recorded_runtime``: the runtime this database's daemon chose when it last started;
    ``subids``: the subordinate id files (/etc/subuid, /etc/subgid)."""
    yield from _slurm(settings, runner)
    marker = yield from _work_root(settings)
    if marker is not None:
        try:
            yield _visible_from_a_node(settings, runner, marker)
        finally:
            marker.unlink(missing_ok=True)
    yield _runtime(settings, recorded_runtime) if build else Check("runtime", "skip", "--no-build given")
    if settings.runtime in ("none", "charliecloud"):  # this zone builds nothing with --fakeroot
        yield Check("fakeroot (pilot image)", "skip", f"runtime {settings.runtime}: nothing here runs "
                    "--fakeroot (lz pilots submit --image checks it itself)")
    else:
        yield fakeroot(*subids)
    yield from _hub(hub, token_file, fetch or _fetch, clock, settings.allow_insecure_hub)


# -- SLURM -------------------------------------------------------------------------------------------
def _slurm(settings: Settings, runner: CommandRunner) -> Iterator[Check]:
    if settings.executor != "slurm":
        yield Check("slurm", "skip", "executor is local (jobs run on this machine)")
        return
    timeout = settings.slurm.command_timeout_s
    for argv, what in ((["sbatch", "--version"], "sbatch"),
                       (["squeue", "-h", "-o", "%i", "-u", settings.slurm.user or _user()], "squeue")):
        started = time.monotonic()
        try:
            result = runner(argv, timeout=timeout)
        except FileNotFoundError:
            yield Check(what, "fail", f"{argv[0]} not found on PATH",
                        "install the Slurm client (Debian: slurm-client) or add its bin directory to PATH "
                        "(the systemd unit's environment file sets PATH)")
            continue
        except CommandTimeout:
            yield Check(what, "fail", f"no answer within {timeout:g}s",
                        "is slurmctld up (scontrol ping) and munge running (munge -n | unmunge)?")
            continue
        if result.returncode != 0:
            yield Check(what, "fail", (result.stderr or result.stdout).strip().splitlines()[-1:][0]
                        if (result.stderr or result.stdout).strip() else f"exit status {result.returncode}",
                        "scontrol ping; check munge (munge -n | unmunge) and slurm.conf's SlurmctldHost")
            continue
        yield Check(what, "ok", f"answered in {time.monotonic() - started:.2f}s")


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


# -- the work root ----------------------------------------------------------------------------------
def _work_root(settings: Settings) -> Generator[Check, None, Path | None]:
    """Writable (a file written, fsynced, read back); returns the file for the node check."""
    root = settings.workdir
    marker = root / f".lz-doctor-{secrets.token_hex(6)}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(marker.name)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        yield Check("work root", "fail", f"{root}: {exc.strerror or exc}",
                    f"create {root} writable by {_user()} (or set workdir / LZ_WORKDIR to a directory that is)")
        return None
    free = os.statvfs(root)
    yield Check("work root", "ok", f"{root} is writable ({free.f_bavail * free.f_frsize / 1e9:.1f} GB free)")
    return marker


def _visible_from_a_node(settings: Settings, runner: CommandRunner, marker: Path) -> Check:
    if settings.executor != "slurm":
        return Check("work root on nodes", "skip", "executor is local")
    slurm = settings.slurm
    argv = ["srun", "--nodes=1", "--ntasks=1", "--time=1", "--immediate=60", "--quiet",
            f"--job-name={settings.job_prefix}doctor"]
    argv += [f"--{key}={value}" for key, value in (("account", slurm.account), ("qos", slurm.qos),
                                                     ("partition", slurm.partition)) if value]
    argv += ["cat", str(marker)]
    try:
        result = runner(argv, timeout=120)
    except (FileNotFoundError, CommandTimeout) as exc:
        return Check("work root on nodes", "fail", f"srun: {exc}", "check that srun works: srun -N1 true")
    if result.returncode == 0 and result.stdout.strip() == marker.name:
        return Check("work root on nodes", "ok", f"a compute node reads {settings.workdir}")
    why = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
    return Check("work root on nodes", "fail", f"a compute node cannot read {marker}: {why}",
                 "put the work root on a filesystem the nodes mount at the same path (workdir / LZ_WORKDIR)")


# -- the container runtime --------------------------------------------------------------------------
def _runtime(settings: Settings, recorded: str | None = None) -> Check:
    """The runtime this landing zone will use: the one its settings name, else the one its daemon
    chose when it last ran, else the first one installed (``auto``). Only a runtime the settings
    name can fail for want of a base image; a guessed one warns, since a zone that runs its jobs
    without a container (``--container none``) needs no image."""
    from lz.core.errors import LzError
    from lz.core.value_class import replace
    from lz.engine import assembly

    guessed = settings.runtime in ("", "auto") and recorded is None
    if settings.runtime in ("", "auto") and recorded is not None:
        settings = replace(settings, runtime=recorded)
    try:
        runtime = assembly.runtime(settings)
    except LzError as exc:
        return Check("runtime", "fail", str(exc), "install the runtime, or set runtime (LZ_RUNTIME) to one installed")
    if runtime.name == "none":
        return Check("runtime", "ok", "none: jobs run directly, nothing to build")
    base = _tiny_base(settings)
    if base is None:
        fix = "add one to [images] in config.toml (e.g. busybox = \"/srv/images/busybox\")"
        if guessed:
            return Check("runtime", "warn", f"{runtime.name} found (runtime auto) but no base image: jobs with a "
                         "Dockerfile or definition cannot build here", fix + ", or run jobs without a container: "
                         "lz run --container none (lz doctor --container none checks that)")
        return Check("runtime", "fail", f"{runtime.name}: no base image to build from", fix)
    return _tiny_build(settings, runtime, base)


def _tiny_base(settings: Settings) -> str | None:
    if "busybox" in settings.images:
        return "busybox"
    return next(iter(settings.images), None)


def _tiny_build(settings: Settings, runtime: object, base: str) -> Check:
    from lz.core.errors import BuildError
    from lz.core.job import JobSpec
    from lz.core.layout import JobPaths
    from lz.core.records import JobContext
    from lz.host.fs import remove_tree
    from lz.runtimes.base import Runtime

    assert isinstance(runtime, Runtime)
    job_id = f"doctor-{secrets.token_hex(4)}"
    ctx = JobContext(job_id, JobSpec(name="doctor", command=("true",), recipe="Dockerfile",
                                     recipe_kind="dockerfile"),
                     JobPaths.under(settings.workdir, job_id, settings.job_prefix))
    started = time.monotonic()
    try:
        for directory in (ctx.paths.work, ctx.paths.meta, ctx.paths.runtime):
            directory.mkdir(parents=True, mode=0o700)
        (ctx.paths.work / "Dockerfile").write_text(f"FROM {base}\nRUN true\n")
        with open(ctx.paths.build_log, "w") as log:
            runtime.build(ctx, log, timeout_s=300)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"), "USER": _user()}
        ran = run_command(runtime.run_argv(ctx), timeout=120, env=env)
        if ran.returncode != 0:
            return Check("runtime", "fail", f"{runtime.name}: the built image did not run `true`: "
                         f"{(ran.stderr.strip().splitlines() or ['exit ' + str(ran.returncode)])[-1]}",
                         "run the runtime by hand on this machine; check user namespaces (sysctl "
                         "kernel.unprivileged_userns_clone) or Apptainer's setuid starter")
        return Check("runtime", "ok", f"{runtime.name}: built FROM {base} and ran it in "
                                      f"{time.monotonic() - started:.1f}s")
    except (BuildError, CommandTimeout, OSError) as exc:
        return Check("runtime", "fail", f"{runtime.name}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}",
                     f"see the runtime's own error above; try: lz submit a job FROM {base} and lz logs --build")
    finally:
        try:
            runtime.cleanup(ctx)
        finally:
            remove_tree(ctx.paths.root)


# -- the pilot image's --fakeroot -------------------------------------------------------------------
def fakeroot(subuid: Path = SUBUID, subgid: Path = SUBGID) -> Check:
    """``apptainer run --fakeroot`` (the pilot image, ``lz pilots submit --image``) needs subordinate
    ids; a warning, not a failure: a landing zone that starts no pilot image needs none."""
    import shutil

    name = "fakeroot (pilot image)"
    if shutil.which("apptainer") is None and shutil.which("singularity") is None:
        return Check(name, "skip", "no apptainer or singularity on PATH")
    found = fakeroot_ready(_user(), os.getuid(), subuid=subuid, subgid=subgid)
    return Check(name, "ok" if found.ok else "warn", found.detail, found.fix)


# -- the hub ------------------------------------------------------------------------------------------
def _hub(url: str | None, token_file: Path | None, fetch: Fetch, clock: Callable[[], float],
         allow_insecure: bool = False) -> Iterator[Check]:
    if not url:
        yield Check("hub", "skip", "no hub configured (--hub URL or LZ_HUB)")
        yield Check("clock", "skip", "no hub to compare with")
        return
    try:
        check_hub_url(url, allow_insecure)  # the token is never sent where a client would not send it
    except UserError as exc:
        yield Check("hub", "fail", str(exc), "give the hub's https:// URL")
        yield Check("clock", "skip", "no hub to compare with")
        return
    token = None
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
            if open_to_others(token_file.stat().st_mode):
                yield Check("token", "fail", f"{token_file} can be read by others", f"chmod 600 {token_file}")
        except OSError as exc:
            yield Check("token", "fail", f"{token_file}: {exc.strerror or exc}",
                        "lz hub token create --user NAME on the hub host; save it there with mode 0600")
    asked = clock()
    answer = fetch(url.rstrip("/") + HUB_CHECK_PATH, token, 10.0)
    if answer.status == 0:
        yield Check("hub", "fail", f"{url}: {answer.error or 'no answer'}",
                    "is lz hub serve running and reachable from here (firewall, proxy, --listen address)?")
    elif answer.status in (401, 403):
        yield Check("hub", "fail", f"{url} refused the token (HTTP {answer.status})",
                    "create a new token (lz hub token create) and check LZ_TOKEN_FILE / --token")
    elif answer.status >= 400:
        yield Check("hub", "fail", f"{url}{HUB_CHECK_PATH}: HTTP {answer.status}", "check the hub URL and its log")
    else:
        yield Check("hub", "ok", f"{url} answered" + (" and accepted the token" if token else " (no token)"))
    yield _skew(answer.date, asked, clock())


def _skew(date: str | None, asked: float, answered: float) -> Check:
    if not date:
        return Check("clock", "skip", "the hub sent no Date header")
    try:
        theirs = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return Check("clock", "skip", f"unreadable Date header {date!r}")
    # the header has one-second resolution and was written between asking and answering: the
    # skew is the distance between [theirs, theirs + 1] and [asked, answered]
    skew = max(0.0, theirs - answered, asked - (theirs + 1))
    if skew > MAX_SKEW_S:
        return Check("clock", "fail", f"{skew:.0f}s apart from the hub's clock",
                     "run a time service on both machines (systemd-timesyncd, chrony)")
    return Check("clock", "ok", f"within {skew + 1:.0f}s of the hub's clock")


def _fetch(url: str, token: str | None, timeout: float) -> HubAnswer:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - an admin's URL
            return HubAnswer(response.status, response.headers.get("Date"))
    except urllib.error.HTTPError as exc:
        return HubAnswer(exc.code, exc.headers.get("Date") if exc.headers else None)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return HubAnswer(0, None, str(getattr(exc, "reason", exc)))


def hub_from(environ: Mapping[str, str]) -> tuple[str | None, Path | None]:
    """The hub URL and token file as clients find them (issue 10): ``LZ_HUB``, ``LZ_TOKEN_FILE``
    (default ``$XDG_CONFIG_HOME/lz/token``)."""
    url = environ.get("LZ_HUB") or None
    token = environ.get("LZ_TOKEN_FILE")
    if token:
        return url, Path(token)
    config_home = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    default = Path(config_home) / "lz" / "token"
    return url, default if default.exists() else None
