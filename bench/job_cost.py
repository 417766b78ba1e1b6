#!/usr/bin/env python3
"""The cost of one job, phase by phase (issue 23): N trivial jobs through (a) a local landing
zone, (b) a pilot, (c) the SLURM gateway, and per phase the median wall time per job, from the
transition logs (the landing zone's ``transitions``, the hub's ``hub_events``), with the CPU the
daemon spent per job (``psutil`` on its process, before the first job and after the last) and
the CPU of each step where the daemon logs it (``lz run -v``: build, submit, collect).

    flock -o /root/heavy.lock python3 bench/job_cost.py [--jobs 20] [--only local,pilot,gateway,many]

``many``: one ``lz submit`` of 100 folders (a landing zone whose daemon is down), wall and CPU.

Phases (medians over the jobs; a phase a mode does not have is blank):
    intake       the submission: ``lz submit`` (wall and CPU of the client process), or for a pilot the
                 claim to the local intake (bundle fetched, received)
    tick wait    received -> build (the engine picking the job up)
    build        build -> built (staging the job, the runtime's build, the manifest)
    submit+start built -> started (the executor's submission and the job seen running)
    run          started -> ended (the job's own process, as the landing zone saw it)
    built to ended  the two above together (a job that ended before it was seen running has no start)
    collect      ended -> clean (results collected and archived, work directory removed)
    upload       clean -> the hub's finish (pilot)
    claim wait   the hub's submit -> claim (pilot)
    claim of next  one job's end to the claim of the next one on the same pilot
    next start   one job's end to the next job's start on the same pilot (its whole overhead)
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from tests.integration.landing_zone import LandingZone, wait_until  # noqa: E402

PHASES = ("intake", "tick wait", "build", "submit+start", "run", "built to ended", "collect", "upload", "claim wait", "claim of next", "next start")
STEP_LINE = re.compile(r"job (\w+): (build|submit|collect) step ([0-9.]+) s, CPU ([0-9.]+) s")


def median(values: Iterable[float]) -> float | None:
    found = list(values)
    return statistics.median(found) if found else None


def cpu_of(pid: int) -> float:
    """The process's CPU and that of its children it has waited for (sbatch, squeue, sstat, ...)."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def programs_cpu_of(pid: int) -> float:
    """The CPU of the children the process has waited for alone (the programs it ran)."""
    times = psutil.Process(pid).cpu_times()
    return times.children_user + times.children_system


class TracedZone(LandingZone):
    """The daemon under ``strace -f -e trace=execve`` (every program it starts) and/or cProfile."""

    def __init__(self, *args: object, trace: Path | None = None, profile: Path | None = None,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.trace, self.profile = trace, profile

    def run_argv(self) -> list[str]:
        argv = super().run_argv()
        if self.profile is not None:
            argv = [argv[0], "-m", "cProfile", "-o", str(self.profile), *argv[1:]]
        if self.trace is not None:
            argv = ["strace", "-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o", str(self.trace), *argv]
        return argv


def hot_spots(collapsed: Path, top: int = 25) -> str:
    """The functions the daemon's samples were in (inclusive), from py-spy's collapsed stacks."""
    inclusive: dict[str, int] = defaultdict(int)
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for frame in set(stack.split(";")):
            inclusive[frame] += int(count)
    best = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return f"{total} samples\n" + "\n".join(f"{n:6d} {n / max(total, 1):6.1%} {frame[:150]}" for frame, n in best)


def exec_counts(trace: Path) -> dict[str, int]:
    """Programs started (successful execve) by name, from an strace log."""
    found: dict[str, int] = defaultdict(int)
    for line in trace.read_text(errors="replace").splitlines():
        match = re.search(r'execve\("([^"]+)".* = 0$', line)
        if match:
            found[Path(match.group(1)).name] += 1
    return dict(sorted(found.items(), key=lambda kv: -kv[1]))


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def histories(rows: Iterable[tuple[str, str, float]]) -> dict[str, dict[str, float]]:
    """job -> event -> first time (an event fired twice keeps its first)."""
    found: dict[str, dict[str, float]] = defaultdict(dict)
    for job, event, at in rows:
        found[job].setdefault(event, at)
    return found


def spans(history: dict[str, dict[str, float]], start: str, end: str) -> list[float]:
    return [h[end] - h[start] for h in history.values() if start in h and end in h]


def engine_phases(history: dict[str, dict[str, float]]) -> dict[str, float | None]:
    return {"tick wait": median(spans(history, "receive", "build")),
            "build": median(spans(history, "build", "built")),
            "submit+start": median(spans(history, "built", "started")),
            "run": median(spans(history, "started", "ended")),
            "built to ended": median(spans(history, "built", "ended")),
            "collect": median(spans(history, "ended", "clean"))}


def step_cpu(log: str) -> dict[str, float | None]:
    """Median CPU per step (the worker thread's own CPU time) from the daemon's step lines."""
    found: dict[str, list[float]] = defaultdict(list)
    for match in STEP_LINE.finditer(log):
        found[match.group(2)].append(float(match.group(4)))
    names = {"build": "build", "submit": "submit+start", "collect": "collect"}
    return {names[k]: median(v) for k, v in found.items()}


def job_folder(base: Path, sleep_s: float = 0) -> Path:
    job = base / "job"
    job.mkdir(exist_ok=True)
    pause = f"sleep {sleep_s:g}; " if sleep_s else ""
    (job / "lz.toml").write_text(f'command = ["sh", "-c", "{pause}echo ok > out.txt"]\n')
    return job


def zone_run(base: Path, jobs: int, container: str, tick: float | None, sleep_s: float = 0,
             trace: bool = False, profile: Path | None = None,
             extra_env: dict[str, str] | None = None, spy: str | None = None) -> dict[str, object]:
    """(a) and (c): a landing zone daemon, jobs by ``lz submit`` (one call each, as a user would)."""
    zone = TracedZone(base, container=container, tick=tick or 5.0, run_args=("--runtime", "none"),
                      trace=base / "strace.log" if trace else None, profile=profile, extra_env=extra_env)
    zone.start()
    try:
        pid = zone.proc.pid if zone.proc else 0
        if trace:  # strace is the process started: the daemon is its child
            wait_until(lambda: bool(psutil.Process(pid).children()), 30, "daemon under strace")
            pid = psutil.Process(pid).children()[0].pid
        job = job_folder(base, sleep_s)
        sampler = None
        if spy:  # py-spy samples the daemon's threads on CPU (a sampling profiler: every thread, no slowdown)
            sampler = subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
                                        "--nonblocking", "-o", str(base / "spy.txt")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        start_cpu, start_programs, start = cpu_of(pid), programs_cpu_of(pid), time.perf_counter()
        submit_wall, submit_cpu, ids = [], [], []
        for _ in range(jobs):
            t0, c0 = time.perf_counter(), client_cpu()
            ids.append(zone.submit(job))
            submit_wall.append(time.perf_counter() - t0)
            submit_cpu.append(client_cpu() - c0)
        # a 1-CPU job each on this 2-CPU node takes plain Slurm ~1.5 s a job: room for 200 of them
        wait_until(lambda: _all_cleaned(zone.db, jobs), max(170.0, 60 + 1.5 * jobs * (1 + sleep_s)), "every job cleaned")
        wall = time.perf_counter() - start
        daemon_cpu = cpu_of(pid) - start_cpu
        programs_cpu = programs_cpu_of(pid) - start_programs
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(30)
            print(hot_spots(base / "spy.txt"), file=sys.stderr)
    finally:
        zone.stop()
    conn = sqlite3.connect(zone.db)
    history = histories(conn.execute("select job_id, event, at from transitions order by id"))
    outcomes = {o for (o,) in conn.execute("select outcome from jobs")}
    conn.close()
    assert outcomes == {"succeeded"}, outcomes
    walls = {"intake": median(submit_wall), **engine_phases(history)}
    cpus = {"intake": median(submit_cpu), **step_cpu(zone.daemon_log())}
    execs = exec_counts(base / "strace.log") if trace else {}
    return {"wall": walls, "cpu": cpus, "total": wall, "daemon_cpu": daemon_cpu / jobs,
            "programs_cpu": programs_cpu / jobs, "submit_cpu": sum(submit_cpu) / jobs, "execs": execs}


def _all_cleaned(db: Path, jobs: int) -> bool:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            states = [s for (s,) in conn.execute("select state from jobs")]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return False
    return len(states) == jobs and all(s == "cleaned" for s in states)


def sleep_job(sleep_s: float) -> bytes:
    """A job bundle (``job/lz.toml``) that sleeps, then writes out.txt."""
    import io
    import tarfile

    data = f'command = ["sh", "-c", "sleep {sleep_s:g}; echo ok > out.txt"]\n'.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("job/lz.toml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def pilot_run(base: Path, jobs: int, pilots: int = 1, sleep_s: float = 0, spy: str | None = None) -> dict[str, object]:
    """(b): pilots of one CPU each (`lz pilots submit --count N --no-image`), jobs to their
    Station; timed from the first job's submission (the pilots are up by then)."""
    from lz.hub.agent.client import HubClient, read_token
    from tests.integration.hub_fleet import trivial_job
    from tests.integration.hub_server import HubServer

    hub = HubServer(base / "hub", lease_s=30)
    hub.start()
    prefix = f"jc{uuid.uuid4().hex[:6]}"
    work = base / "work"
    work.mkdir()
    try:
        token = hub.user("alice")
        client = HubClient(hub.url, read_token(token), timeout_s=60)
        bundle = base / "job.tar.gz"
        bundle.write_bytes(sleep_job(sleep_s) if sleep_s else trivial_job())
        hub.cli("pilots", "submit", "--count", str(pilots), "--no-image", "--cpus", "1", "--time", "10:00",
                "--name-pattern", prefix + "_{index}", "--output-dir", str(base), "--hub", hub.url,
                "--token", str(token), env={"TMPDIR": str(work)})
        names = {f"{prefix}_{i}" for i in range(1, pilots + 1)}
        wait_until(lambda: names <= {z["name"] for z in client.get("/api/v1/zones")}, 120, "pilots up")
        client.post("/api/v1/stations", {"name": "pilots"})
        for name in sorted(names):
            client.put(f"/api/v1/stations/pilots/zones/{name}")
        pids = [int(p.read_text().split()[0]) for p in work.glob("lz-pilot-*/lz.pid")]
        sampler = None
        if spy:  # the first pilot's daemon, sampled as zone_run's
            sampler = subprocess.Popen([spy, "record", "--pid", str(pids[0]), "--format", "raw", "--rate", "250",
                                        "--nonblocking", "-o", str(base / "spy.txt")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        start_cpu, start = sum(cpu_of(pid) for pid in pids), time.perf_counter()
        for i in range(jobs):
            client.upload("POST", "/api/v1/stations/pilots/jobs", bundle, "application/gzip",
                          params={"key": f"{prefix}-{i:08d}", "name": f"t{i}", "time": "1:00"})
        deadline = time.time() + 170
        while True:
            listing = client.get("/api/v1/jobs", params={"station": "pilots"})
            if len(listing) == jobs and all(j["state"] == "cleaned" for j in listing):
                break
            if time.time() > deadline:
                raise SystemExit(f"pilot: {sum(j['state'] == 'cleaned' for j in listing)}/{jobs} cleaned")
            time.sleep(0.2)
        wall = time.perf_counter() - start
        daemon_cpu = sum(cpu_of(pid) for pid in pids) - start_cpu
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(30)
            print(hot_spots(base / "spy.txt", top=60), file=sys.stderr)
    finally:
        subprocess.run(["scancel", "--name", prefix], check=False)
        time.sleep(1)
        hub.stop()
    requests = zone_requests(hub.log())
    conn = sqlite3.connect(hub.db)
    history = histories(conn.execute("select job_id, event, at from hub_events order by id"))
    conn.close()
    walls = {"intake": median(spans(history, "claim", "receive")), **engine_phases(history),
             "upload": median(spans(history, "clean", "finish")),
             "claim wait": median(spans(history, "submit", "claim")),
             "claim of next": median(_gaps(history, "claim")), "next start": median(_gaps(history, "started"))}
    log = "".join(p.read_text(errors="replace") for p in base.glob("*.out"))
    return {"wall": walls, "cpu": step_cpu(log), "total": wall, "daemon_cpu": daemon_cpu / jobs,
            "requests": {k: v / jobs for k, v in requests.items()}}


ACCESS_LINE = re.compile(r'"(GET|POST|PUT|DELETE) /api/v1/lz/([^ ?"]+)')


def zone_requests(hub_log: str) -> dict[str, int]:
    """The landing zones' requests by route (the hub's access log, ``-v``), a job's id as ``*``:
    registration and heartbeats included, so per job they are a little over what a job costs."""
    found: dict[str, int] = defaultdict(int)
    for method, path in ACCESS_LINE.findall(hub_log):
        found[f"{method} " + re.sub(r"^jobs/[^/]+", "jobs/*", path)] += 1
    return dict(sorted(found.items(), key=lambda kv: -kv[1]))


def requests_line(requests: dict[str, float]) -> str:
    return (f"{sum(requests.values()):.2f} zone requests a job: "
            + ", ".join(f"{route} {n:.2f}" for route, n in requests.items()))


def _gaps(history: dict[str, dict[str, float]], event: str) -> list[float]:
    """One job's end to the next one's ``event`` (one pilot of one CPU: its jobs run one after
    another, so the next job is the next to start); with several pilots, the next by start time."""
    runs = sorted((h["started"], h["ended"], h[event]) for h in history.values()
                  if "started" in h and "ended" in h and event in h)
    return [nxt[2] - cur[1] for cur, nxt in zip(runs, runs[1:]) if nxt[2] >= cur[1]]


def many_in_one_call(base: Path, count: int) -> tuple[float, float]:
    """``lz submit DIR1 … DIRn`` into a landing zone whose daemon is down: wall and CPU of the call."""
    zone = LandingZone(base, run_args=("--runtime", "none"))
    paths = []
    for i in range(count):
        folder = base / f"job{i}"
        folder.mkdir()
        (folder / "lz.toml").write_text(f'command = ["sh", "-c", "echo {i} > out.txt"]\n')
        paths.append(str(folder))
    t0, c0 = time.perf_counter(), client_cpu()
    done = zone.cli("submit", *paths, check=False)
    wall, cpu = time.perf_counter() - t0, client_cpu() - c0
    if done.returncode != 0 or len(done.stdout.split()) != count:
        raise SystemExit(f"lz submit of {count} folders in one call failed: {done.stderr[-2000:]}")
    return wall, cpu


def table(results: dict[str, dict[str, object]], jobs: int) -> str:
    modes = list(results)
    lines = [f"| phase (median per job, {jobs} trivial jobs) | " + " | ".join(modes) + " |",
             "|---|" + "---|" * len(modes)]
    for phase in PHASES:
        cells = []
        for mode in modes:
            wall = results[mode]["wall"].get(phase)  # type: ignore[attr-defined]
            cpu = results[mode]["cpu"].get(phase)  # type: ignore[attr-defined]
            cell = "" if wall is None else f"{wall * 1000:.0f} ms"
            if cpu is not None:
                cell += f" (CPU {cpu * 1000:.0f} ms)"
            cells.append(cell)
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    lines.append("| daemon CPU per job (with the programs it ran) | " + " | ".join(f"{results[m]['daemon_cpu'] * 1000:.0f} ms" for m in modes) + " |")
    lines.append("| first submission to last clean | "
                 + " | ".join(f"{results[m]['total']:.1f} s ({jobs / results[m]['total'] * 60:.0f} jobs/min)"  # type: ignore[operator]
                              for m in modes) + " |")
    return "\n".join(lines)


def compiled() -> None:
    """lz's modules compiled, as an installed package has them: with PYTHONDONTWRITEBYTECODE set
    (as on the development machine) every ``lz submit`` would otherwise compile its modules again,
    ~80 ms of its CPU that no installed lz pays."""
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "lz")], check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--only", default="local,pilot,gateway,many")
    parser.add_argument("--tick", type=float, default=None, help="the daemons' --tick (default: lz's own)")
    parser.add_argument("--sleep", type=float, default=0, help="each job sleeps this long first (1: the issue's 1-s jobs)")
    parser.add_argument("--trace", action="store_true", help="count the programs the daemon starts (strace)")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the gateway daemon into this file")
    parser.add_argument("--spy", default=None, help="a py-spy binary: sample the gateway daemon, print its hot spots")
    args = parser.parse_args()
    chosen = args.only.split(",")
    compiled()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="lz-bench-cost-") as tmp:
        base = Path(tmp)
        if "local" in chosen:
            results["local zone"] = zone_run(base / "local", args.jobs, "none", args.tick, args.sleep, args.trace)
            print(f"local zone: {results['local zone']['total']:.1f} s", file=sys.stderr, flush=True)
        if "pilot" in chosen and shutil.which("sbatch"):
            results["pilot (1 CPU)"] = pilot_run(base / "pilot", args.jobs, spy=args.spy)
            print(f"pilot: {results['pilot (1 CPU)']['total']:.1f} s", file=sys.stderr, flush=True)
        if "gateway" in chosen and shutil.which("sbatch"):
            results["SLURM gateway"] = zone_run(base / "gateway", args.jobs, "slurm", args.tick, args.sleep,
                                                args.trace, args.profile, spy=args.spy)
        if "many" in chosen:
            wall, cpu = many_in_one_call(base / "many", 100)
    print(table(results, args.jobs))
    for mode, result in results.items():
        if result.get("execs"):
            print(f"{mode}: programs started by the daemon: " + ", ".join(f"{k} {v}" for k, v in result["execs"].items()))  # type: ignore[attr-defined]
        if result.get("requests"):
            print(f"{mode}: " + requests_line(result["requests"]))  # type: ignore[arg-type]
        if "submit_cpu" in result:
            print(f"{mode}: `lz submit` CPU per job {result['submit_cpu'] * 1000:.0f} ms; daemon and its programs "
                  f"{result['daemon_cpu'] * 1000:.0f} ms, of which its programs "
                  f"{result['programs_cpu'] * 1000:.0f} ms")  # type: ignore[operator]
    if "many" in chosen:
        print(f"\n`lz submit` of 100 folders in one call: {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"({wall * 10:.0f} ms a job)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    main()
