"""How fast the command line answers: median wall time of ``lz --help``, ``lz status`` (empty
database and 10,000 jobs) and ``lz submit`` of a small folder, each next to
``python -c "import sqlalchemy, click"`` from the same environment in the same run.

    python bench/cli_speed.py [--runs 15] [--jobs 10000]

Targets (issue 7): status on 10,000 jobs <= 1.5x the baseline, --help <= 0.6x, submit <= 1.0x.

``--submit`` measures ``lz submit`` of a small folder alone (issue 23), wall and CPU of each fresh
process, runs interleaved (one of each in turn, so a load that comes and goes hits every row alike)
against ``python -c "import click"`` and against that plus copying the folder (what any submitting
program pays), for a local landing zone and a SLURM gateway's (intake is the same without its
daemon); ``--before DIR`` adds the rows of another checkout of lz (e.g. ``git archive main``):

    python bench/cli_speed.py --submit [--runs 20] [--before DIR] [--importtime]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"lz --help": 0.6, "lz status (empty)": None, "lz status (10,000 jobs)": 1.5, "lz submit (small folder)": 1.0}



def small_job(base: Path) -> Path:
    """The folder both measurements submit: a two-line script and its lz.toml."""
    job = base / "job"
    job.mkdir()
    (job / "run.sh").write_text("echo hi\n")
    (job / "lz.toml").write_text('command = ["sh", "run.sh"]\n')
    return job

def run_once(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, from the kernel's accounting of that one child)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{argv} exited {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str], runs: int, warmup: int = 0) -> float:
    """The median wall time of ``runs`` fresh processes, after ``warmup`` untimed ones (caches)."""
    for _ in range(warmup):
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def fill(db: Path, count: int) -> None:
    """``count`` jobs as a long-running landing zone has them: nearly all cleaned, a few active."""
    from lz.core.job import JobSpec
    from lz.store.db import make_engine
    from lz.store.jobs import JobStore
    from lz.store.migrate import upgrade

    engine = make_engine(db)
    upgrade(engine)
    store = JobStore(engine)
    spec = JobSpec(name="bench", command=("true",))
    rows = []
    now = time.time()
    for i in range(count):
        state = "cleaned" if i < count - 20 else "queued"
        rows.append({"id": f"{i:010x}", "name": f"job{i}", "state": state, "source": "cli",
                     "spec": json.dumps(spec.to_dict()), "created_at": now - count + i, "updated_at": now,
                     "outcome": "succeeded" if state == "cleaned" else None})
    from sqlalchemy import insert

    from lz.store.models import jobs

    with engine.begin() as conn:
        conn.execute(insert(jobs), rows)
    del store


def submit_rows(runs: int, before: Path | None, importtime: bool) -> None:
    """``lz submit`` of one small folder against ``import click`` (+ the copy), interleaved."""
    python = sys.executable
    here = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="lz-submit-bench-") as tmp:
        base = Path(tmp)
        job = small_job(base)
        copies = base / "copies"
        copies.mkdir()
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},  # cached bytecode, as installed
               "HOME": str(base), "XDG_CONFIG_HOME": str(base / "config"), "PYTHONPATH": here}
        trees = {"": here, **({" (before)": str(before)} if before else {})}
        for tree in trees.values():
            subprocess.run([python, "-m", "compileall", "-q", str(Path(tree) / "lz")], stdout=subprocess.DEVNULL, check=True)
        zones = {"local zone": {"LZ_CONTAINER": "none"}, "slurm gateway": {"LZ_CONTAINER": "slurm", "LZ_RUNTIME": "none"}}
        rows: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c 'import click'": ([python, "-c", "import click"], env),
            "import click + copy": ([python, "-c", "import click, shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2])",
                                     str(job), "COPY"], env),
        }
        for zone, extra in zones.items():
            for suffix, tree in trees.items():
                folder = base / f"{zone.replace(' ', '-')}{suffix.strip(' ()')}"
                zone_env = {**env, **extra, "PYTHONPATH": tree, "LZ_WORKDIR": str(folder / "work"),
                            "LZ_DB": str(folder / "lz.db")}
                subprocess.run([python, "-m", "lz", "status"], env=zone_env, cwd=base, stdout=subprocess.DEVNULL,
                               check=True)
                rows[f"lz submit, {zone}{suffix}"] = ([python, "-m", "lz", "submit", str(job)], zone_env)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
        for i in range(runs + 2):  # the first two rounds warm the caches, untimed
            for name, (argv, run_env) in rows.items():
                argv = [str(copies / f"{i}-{len(samples[name])}") if a == "COPY" else a for a in argv]
                sample = run_once(argv, run_env, base)  # not in a checkout: ``-m`` puts the cwd first on sys.path
                if i >= 2:
                    samples[name].append(sample)
        if importtime:
            for name, (argv, run_env) in rows.items():
                if "lz submit" in name:
                    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=run_env, cwd=base,
                                          text=True, capture_output=True, check=True)
                    print(f"{name}: the 12 costliest imports (cumulative us)")
                    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("import time:") and "|" in ln]
                    costly = sorted(lines[1:], key=lambda ln: -int(ln.split("|")[1]))[:12]
                    print("\n".join(ln.replace("import time:", " ") for ln in costly))
    click_wall = statistics.median(w for w, _ in samples["python -c 'import click'"])
    click_cpu = statistics.median(c for _, c in samples["python -c 'import click'"])
    copy_wall = statistics.median(w for w, _ in samples["import click + copy"])
    print(f"{runs} interleaved runs each, medians; ratios against 'import click + copy' (the goal: <= 1.0x)")
    print(f"{'command':<36} {'wall':>8} {'CPU':>8} {'ratio':>6} {'vs click':>9}")
    for name, got in samples.items():
        wall, cpu = statistics.median(w for w, _ in got), statistics.median(c for _, c in got)
        print(f"{name:<36} {wall * 1000:>5.0f} ms {cpu * 1000:>5.0f} ms {wall / copy_wall:>5.2f}x "
              f"{wall / click_wall:>5.2f}x / CPU {cpu / click_cpu:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--submit", action="store_true", help="lz submit alone, wall and CPU (issue 23)")
    parser.add_argument("--before", type=Path, default=None, help="with --submit: another lz checkout's rows too")
    parser.add_argument("--importtime", action="store_true", help="with --submit: the costliest imports of each")
    args = parser.parse_args()
    if args.submit:
        submit_rows(args.runs, args.before, args.importtime)
        return
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="lz-cli-bench-") as tmp:
        base = Path(tmp)
        job = small_job(base)
        env = {**os.environ, "LZ_WORKDIR": str(base / "work"), "LZ_CONTAINER": "none", "HOME": str(base),
               "XDG_CONFIG_HOME": str(base / "config")}
        empty = {**env, "LZ_DB": str(base / "empty" / "lz.db")}
        full = {**env, "LZ_DB": str(base / "full" / "lz.db")}
        submits = {**env, "LZ_DB": str(base / "submits" / "lz.db")}
        fill(base / "full" / "lz.db", args.jobs)
        subprocess.run([python, "-m", "lz", "status"], env=empty, stdout=subprocess.DEVNULL, check=True)
        subprocess.run([python, "-m", "lz", "status"], env=submits, stdout=subprocess.DEVNULL, check=True)
        baseline = timed([python, "-c", "import sqlalchemy, click"], env, args.runs)
        results = {
            "lz --help": timed([python, "-m", "lz", "--help"], env, args.runs),
            "lz status (empty)": timed([python, "-m", "lz", "status"], empty, args.runs),
            "lz status (10,000 jobs)": timed([python, "-m", "lz", "status"], full, args.runs),
            "lz submit (small folder)": timed([python, "-m", "lz", "submit", str(job)], submits, args.runs),
        }
    print(f"baseline: python -c 'import sqlalchemy, click': {baseline * 1000:.0f} ms (median of {args.runs})")
    print(f"{'command':<26} {'median':>8} {'ratio':>6}  target")
    for name, seconds in results.items():
        target = TARGETS[name]
        verdict = "" if target is None else f"<= {target}x {'met' if seconds / baseline <= target else 'MISSED'}"
        print(f"{name:<26} {seconds * 1000:>6.0f} ms {seconds / baseline:>5.2f}x  {verdict}")


if __name__ == "__main__":
    main()
