"""The README's hub quickstart, run as a new user would (issue 24): the shell block of "The hub:
Stations and landing zones over HTTP" and the one of "Login (device flow) and tokens for pilots",
read from README.md itself, each line in order with bash, against a fresh state (a private home,
no LZ_* settings, a free loopback port). Every line must exit 0; the job it submits succeeds on
ws1 and its results download, `lz zones` lists ws1, and the device login prints the five lines the
README shows, is approved (with `lz hub approve`, as written, and once more by alice on /activate,
the README's alternative) and leaves a 0600 token file that works. Nothing is left behind."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.hub_server import free_port
from tests.integration.invariants import no_trace_in
from tests.paths import ROOT
from tests.unit.hub_helpers import login_csrf, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README = ROOT / "README.md"
HUB_BLOCK = ("## The hub: Stations and landing zones over HTTP", "# on the hub host")
LOGIN_BLOCK = ("### Login (device flow) and tokens for pilots", "")

# -- every liberty the test takes with the README's lines, in one place ---------------------------
EXAMPLE_HUB = "https://hub.example.org"  # -> the test hub, http://127.0.0.1:PORT (loopback http is allowed)
EXAMPLE_LISTEN = "127.0.0.1:8750"  # -> 127.0.0.1:PORT, a free port
EXAMPLE_CODE = "BCDF-GHJK"  # the user code the README shows -> the one `lz login` printed
CODE = re.compile(r"[B-Z]{4}-[B-Z]{4}")
# a placeholder -> (the command whose output gives its value, how it is read from that output)
PLACEHOLDERS: dict[str, tuple[str, Callable[[str], str]]] = {
    "JOB": ("lz submit", lambda out: out.split()[-1]),  # "prints the job id last"
    EXAMPLE_CODE: ("lz login", lambda out: re.findall(rf"^Code: ({CODE.pattern})$", out, re.M)[-1]),
}
UNSOURCED = re.compile(r"\b(ID|JOB|DIR|URL|FILE|NAME|CODE|X)\b")  # a placeholder left in a command: README bug
WAITS_FOR_A_PERSON = ("lz login",)  # runs in the background until a later line approves it, then exits 0
# a line ending in `&` leaves a server running; the next line runs once it is ready (a person would
# wait for it too); they are all stopped at the end
READY: dict[str, Callable[[Step, int], bool]] = {
    "lz hub serve": lambda step, port: _answers(port),
    "lz run": lambda step, port: "registered with hub" in step.output(),
}
# the only setting the README does not name: the device flow's poll interval, 5 s -> 1 s (test time)
HUB_CONFIG = "[login]\ndevice_interval_s = 1\n"
# each block starts in a fresh shell of the same machine (same home, same hub); the user's working
# directory holds a copy of the checkout's examples/


@dataclass
class Step:
    """One command line of a block and the output lines the README shows under it."""

    line: str
    shows: list[str] = field(default_factory=list)
    command: str = ""  # the line as run
    proc: subprocess.Popen[bytes] | None = None
    stdout: Path | None = None
    stderr: Path | None = None

    def output(self, which: str = "both") -> str:
        paths = {"stdout": [self.stdout], "stderr": [self.stderr], "both": [self.stdout, self.stderr]}[which]
        return "".join(p.read_text(errors="replace") for p in paths if p is not None and p.exists())


def readme_block(heading: str, first: str) -> str:
    """The first ```sh block under ``heading`` (in README.md) that starts with ``first``."""
    text = README.read_text()
    assert f"\n{heading}\n" in text, f"README.md has no heading {heading!r}"
    section = text.split(f"\n{heading}\n", 1)[1]
    for match in re.finditer(r"^```(\w+)[^\n]*\n(.*?)^```", section, re.M | re.S):
        if match.group(1) == "sh" and match.group(2).startswith(first):
            return match.group(2)
    raise AssertionError(f"no sh block starting {first!r} under {heading!r}")


def steps(block: str) -> list[Step]:
    """Command lines in order; comment lines right after a command are the output it shows."""
    found: list[Step] = []
    after_command = False
    for raw in block.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if line.startswith("#"):
            if after_command:
                found[-1].shows.append(line[1:].strip())
            continue
        after_command = bool(line)
        if line:
            found.append(Step(line))
    return found


def code_part(line: str) -> str:
    """The line without its trailing comment."""
    return re.split(r"\s#\s", line, maxsplit=1)[0]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _live_members(pgid: int) -> list[int]:
    """Processes of this process group that still run (zombies waiting for a reaper do not)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def processes_with(home: Path) -> list[str]:
    """Command lines of processes whose environment has this HOME: what the quickstart started."""
    marker = f"HOME={home}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return found


class Shell:
    """Runs lines one by one, each in its own bash and session (what it leaves in the background
    is stopped at the end by its process group), in the environment the previous line left (an
    ``export`` carries on), with ``set -eo pipefail``: every command of a line must succeed."""

    def __init__(self, cwd: Path, env: dict[str, str], logs: Path):
        self.cwd, self.env, self.logs = cwd, dict(env), logs
        logs.mkdir()
        self.groups: list[int] = []

    def start(self, step: Step, command: str) -> Step:
        n = len(self.groups) + 1
        step.command, step.stdout, step.stderr = command, self.logs / f"{n}.out", self.logs / f"{n}.err"
        script = f"set -eo pipefail\n{command}\nrc=$?\nenv -0 > {self.logs / f'{n}.env'}\nexit $rc\n"
        with open(step.stdout, "wb") as out, open(step.stderr, "wb") as err:
            step.proc = subprocess.Popen(["bash", "-c", script], cwd=self.cwd, env=self.env, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.groups.append(step.proc.pid)
        return step

    def finish(self, step: Step, timeout: float = 90, take_env: bool = True) -> Step:
        assert step.proc is not None
        try:
            rc = step.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"README line did not end in {timeout:.0f} s (a server without &?): "
                                 f"{step.line}\n{step.output()}") from None
        assert rc == 0, f"README line failed (exit {rc}): {step.line}\n{step.output()}"
        if not take_env:
            return step
        env_file = self.logs / f"{self.groups.index(step.proc.pid) + 1}.env"
        self.env = dict(e.split("=", 1) for e in env_file.read_text().split("\0") if "=" in e)
        return step

    def run(self, step: Step, command: str) -> Step:
        return self.finish(self.start(step, command))

    def fresh(self, env: dict[str, str]) -> None:
        """A new shell: the environment of the start again."""
        self.env = dict(env)

    def stop_all(self) -> None:
        """SIGTERM to every line's process group, newest first (the landing zone before the hub),
        and SIGKILL to what still runs a minute later."""
        for pgid in reversed(self.groups):
            if not _live_members(pgid):
                continue
            os.killpg(pgid, signal.SIGTERM)
            deadline = time.monotonic() + 60
            while _live_members(pgid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _live_members(pgid):
                os.killpg(pgid, signal.SIGKILL)
        for pgid in self.groups:
            try:
                os.waitpid(pgid, os.WNOHANG)  # the lines' own bash, if not waited for yet
            except ChildProcessError:
                pass


class Quickstart:
    """The README's lines with their substitutions, run in order by one ``Shell``."""

    def __init__(self, shell: Shell, port: int):
        self.shell, self.port = shell, port
        self.hub = f"http://127.0.0.1:{port}"
        self.found: dict[str, str] = {}
        self.waiting: list[Step] = []
        self.ran: list[Step] = []

    def substituted(self, text: str) -> str:
        text = text.replace(EXAMPLE_HUB, self.hub).replace(EXAMPLE_LISTEN, f"127.0.0.1:{self.port}")
        for placeholder, value in self.found.items():
            text = re.sub(rf"(?<![\w-]){re.escape(placeholder)}(?![\w-])", value, text)
        return text

    def run_block(self, block: str) -> None:
        for step in steps(block):
            self.run_step(step)
        assert not self.waiting, f"nothing approved {[s.line for s in self.waiting]}"

    def run_step(self, step: Step) -> Step:
        command = self.substituted(step.line)
        left = UNSOURCED.findall(code_part(command))
        assert not left, f"README line has a placeholder nothing before it gives ({left}): {step.line}"
        program = " ".join(code_part(command).split()[:3])
        if any(program.startswith(p) for p in WAITS_FOR_A_PERSON):
            self.shell.start(step, command)
            self._shows_what_the_readme_shows(step)
            self.waiting.append(step)
        else:
            self.shell.run(step, command)
            for waiting in self.waiting:  # approved by now: it ends on its own
                self.shell.finish(waiting, timeout=30, take_env=False)
            self.waiting = []
            if code_part(command).rstrip().endswith("&"):
                self._wait_ready(step, program)
        for placeholder, (source, read) in PLACEHOLDERS.items():
            if program.startswith(source):
                self.found[placeholder] = read(step.output("stdout"))
        self.ran.append(step)
        return step

    def _shows_what_the_readme_shows(self, step: Step) -> None:
        """The output lines under the command in the README, in order (the code: any code)."""
        assert step.shows, f"the README shows no output under {step.line}"
        deadline = time.monotonic() + 30
        while len(step.output("stdout").splitlines()) < len(step.shows) and time.monotonic() < deadline:
            assert step.proc is not None and step.proc.poll() is None, step.output()
            time.sleep(0.05)
        printed = step.output("stdout").splitlines()[: len(step.shows)]
        assert len(printed) == len(step.shows), step.output()
        for shown, line in zip(step.shows, printed, strict=True):
            pattern = re.escape(self.substituted(shown.replace(EXAMPLE_CODE, "\0"))).replace("\0", CODE.pattern)
            assert re.fullmatch(pattern, line), (shown, line)

    def _wait_ready(self, step: Step, program: str) -> None:
        ready = [check for prefix, check in READY.items() if program.startswith(prefix)]
        assert ready, f"the test does not know when this background command is ready: {step.line}"
        deadline = time.monotonic() + 60
        while not ready[0](step, self.port):
            assert _live_members(self.shell.groups[-1]), f"{step.line} exited: {step.output()}"
            assert time.monotonic() < deadline, f"{step.line} not ready: {step.output()}"
            time.sleep(0.1)

    def step_of(self, program: str) -> Step:
        """The last README line that ran ``program``."""
        return [s for s in self.ran if program in code_part(s.command)][-1]


class Browser(requests.Session):
    """A browser on the hub: relative URLs, as the unit tests' client takes them."""

    def __init__(self, base: str):
        super().__init__()
        self.base = base

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().request(method, self.base + str(url) if str(url).startswith("/") else url, *args, **kwargs)


def approve_on_activate(hub: str, code: str, name: str, password: str) -> None:
    """Sign in as ``name`` and approve ``code`` on /activate, with the forms' CSRF tokens."""
    browser = Browser(hub)
    target = f"/activate?user_code={code}"
    assert sign_in(browser, name, password, next=target).status_code == 200
    page = browser.get(target)
    assert "asks to act as you" in page.text, page.text
    done = browser.post("/activate", data={"csrf": login_csrf(page.text), "user_code": code, "decision": "approve"})
    assert done.status_code == 200 and "approved" in done.text


def fresh_environment(home: Path, bin_dir: Path, hub_config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LZ_", "XDG_", "REQUESTS_CA"))}
    return {**env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_STATE_HOME": str(home / ".local" / "state"), "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"), "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "LZ_HUB_CONFIG": str(hub_config)}


def test_the_readme_quickstart_runs_as_written(tmp_path: Path, shared_tmp: dict[Path, set[str]]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lz").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m lz.cli "$@"\n')
    (bin_dir / "lz").chmod(0o755)
    hub_config = tmp_path / "hub.toml"
    hub_config.write_text(HUB_CONFIG)
    checkout = tmp_path / "checkout"  # where the user types the commands
    shutil.copytree(ROOT / "examples", checkout / "examples")
    start_env = fresh_environment(home, bin_dir, hub_config)
    shell = Shell(checkout, start_env, tmp_path / "lines")
    quick = Quickstart(shell, free_port())
    hub_block, login_block = readme_block(*HUB_BLOCK), readme_block(*LOGIN_BLOCK)
    try:
        quick.run_block(hub_block)
        zones = quick.step_of("lz zones").output("stdout")
        assert re.search(r"^ws1\s+yes\s", zones, re.M), zones
        job = quick.found["JOB"]
        assert "words: " in quick.step_of("lz logs").output("stdout")
        done = json.loads(shell.run(Step("(check)"), f"lz status {job} --json").output("stdout"))
        assert (done["state"], done["outcome"], done["landing_zone"]) == ("cleaned", "succeeded", "ws1"), done
        results = checkout / code_part(quick.step_of("lz results").command).split()[-1]
        words = len((checkout / "examples" / "wordcount" / "input.txt").read_text().split())
        assert (results / "out" / "count.txt").read_text().strip() == str(words)
        assert "counted on" in (results / "runs.txt").read_text()

        shell.fresh(start_env)
        quick.run_block(login_block)
        login = quick.step_of("lz login")
        assert "approved for alice" in quick.step_of("lz hub approve").output("stdout")
        assert (home / "pilots.token").stat().st_mode & 0o777 == 0o600
        # the README's other way to approve: alice signs in on /activate (with the README's passphrase)
        quick.run_step(Step(login.line, login.shows))
        password = re.search(r"^echo '([^']+)' \| lz hub user", login_block, re.M)
        assert password, "the login block sets alice's password"
        approve_on_activate(quick.hub, quick.found[EXAMPLE_CODE], "alice", password.group(1))
        shell.finish(quick.waiting.pop(), timeout=30, take_env=False)
        token = home / ".config" / "lz" / "token"
        assert token.stat().st_mode & 0o777 == 0o600 and json.loads(token.read_text())["refresh_token"]
        mine = shell.run(Step("(check)"), f"lz status --hub {quick.hub}").output("stdout")
        assert re.search(rf"^{job}\s+wordcount\s+science\s+cleaned\s+succeeded\s+ws1\b", mine, re.M), mine
    finally:
        shell.stop_all()
    assert processes_with(home) == []
    no_trace_in(shared_tmp)
