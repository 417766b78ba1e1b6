#!/usr/bin/env python3
"""Issue 23's comparison tables, re-runnable: N jobs of S seconds through a plain ``sbatch`` loop
with ``squeue`` polling, submitit, PSI/J, Parsl's HighThroughputExecutor (2 blocks of 1 CPU), the
lz gateway (``lz submit`` each) and 2 lz pilots, one after the other on the same Slurm; figures
and ratios printed in the same run.

    flock -o /root/heavy.lock python3 bench/compare_tools.py [--jobs 20] [--sleep 1]
        [--only plain,submitit,psij,parsl,gateway,pilots]

The third-party tools live in a venv this bench makes (``bench/.venv-compare``, git-ignored:
``pip install submitit psij-python parsl``), so lz's own dependencies do not grow; each tool runs
there as a script of its own. Every ``sbatch``, ``squeue``, ``sacct`` and ``scancel`` goes
through a PATH shim that counts the calls (the controller's load, as it would count it).

Wall: the first submission to the last job seen done, by the tool's own means. For Parsl and the
pilots the clock starts once their workers are up (one warm-up task; the pilots registered), as a
sweep would find them. CPU: the tool's processes and the programs they ran (for lz: the
``lz submit`` calls and the daemon with its children; for the pilots, their daemons), not the jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VENV = ROOT / "bench" / ".venv-compare"
PACKAGES = ("submitit", "psij-python", "parsl")
COUNTED = ("sbatch", "squeue", "sacct", "scancel")
TOOLS = ("plain", "plain-lz", "submitit", "psij", "parsl", "gateway", "pilots")


def compare_venv() -> Path:
    """The venv's python, made (and the tools installed) on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return python


def versions(python: Path) -> str:
    out = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(' '.join(p + ' ' + m.version(p) "
                          f"for p in {list(PACKAGES)!r}))"], capture_output=True, text=True).stdout
    return out.strip()


def shims(directory: Path) -> Path:
    """``directory/PROGRAM`` for each counted program: a line to ``PROGRAM.calls``, then the real one."""
    directory.mkdir(parents=True, exist_ok=True)
    for program in COUNTED:
        real = shutil.which(program)
        if real is None:
            continue
        (directory / f"{program}.calls").write_text("")
        shim = directory / program
        shim.write_text(f'#!/bin/sh\necho x >> "{directory}/{program}.calls"\nexec "{real}" "$@"\n')
        shim.chmod(0o755)
    return directory


def counts(directory: Path) -> dict[str, int]:
    return {p: len((directory / f"{p}.calls").read_text().splitlines())
            for p in COUNTED if (directory / f"{p}.calls").exists()}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- the third-party tools, each a script in the compare venv; it prints {"wall": seconds} -------
SCRIPTS = {
    "submitit": """
        import json, sys, time, submitit
        jobs, sleep, folder = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        executor.update_parameters(timeout_min=5, cpus_per_task=1, tasks_per_node=1, nodes=1)
        start = time.perf_counter()
        submitted = [executor.submit(time.sleep, sleep) for _ in range(jobs)]
        for job in submitted:
            job.result()
        print(json.dumps({"wall": time.perf_counter() - start}))
    """,
    "psij": """
        import json, sys, time
        from pathlib import Path
        from psij import Job, JobExecutor, JobSpec
        from psij.executors.batch.slurm import SlurmExecutorConfig
        jobs, sleep, folder = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
        config = SlurmExecutorConfig(work_directory=Path(folder), queue_polling_interval=1)
        executor = JobExecutor.get_instance("slurm", config=config)
        start = time.perf_counter()
        submitted = []
        for _ in range(jobs):
            job = Job(JobSpec(executable="/bin/sleep", arguments=[f"{sleep:g}"], directory=Path(folder)))
            executor.submit(job)
            submitted.append(job)
        for job in submitted:
            job.wait()
        print(json.dumps({"wall": time.perf_counter() - start,
                          "failed": sum(j.status.state.name != "COMPLETED" for j in submitted)}))
    """,
    "parsl": """
        import json, sys, time
        import parsl
        from parsl.config import Config
        from parsl.executors import HighThroughputExecutor
        from parsl.launchers import SingleNodeLauncher
        from parsl.providers import SlurmProvider
        jobs, sleep, folder = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
        venv = sys.prefix
        config = Config(run_dir=folder, executors=[HighThroughputExecutor(
            label="htex", address="127.0.0.1", max_workers_per_node=1, cores_per_worker=1,
            provider=SlurmProvider(nodes_per_block=1, cores_per_node=1, init_blocks=2, min_blocks=2, max_blocks=2,
                                   walltime="00:10:00", exclusive=False, launcher=SingleNodeLauncher(),
                                   worker_init=f"export PATH={venv}/bin:$PATH"))])
        parsl.load(config)

        @parsl.python_app
        def pause(seconds):
            import time
            time.sleep(seconds)
            return seconds

        [pause(0).result() for _ in range(2)]  # the warm-up: both blocks up
        start = time.perf_counter()
        futures = [pause(sleep) for _ in range(jobs)]
        [f.result() for f in futures]
        wall = time.perf_counter() - start
        parsl.dfk().cleanup()
        print(json.dumps({"wall": wall}))
    """,
}


def third_party(tool: str, python: Path, base: Path, jobs: int, sleep_s: float) -> dict[str, object]:
    folder = base / tool
    folder.mkdir(parents=True)
    script = folder / "run.py"
    script.write_text(textwrap.dedent(SCRIPTS[tool]))
    bin_dir = shims(folder / "shims")
    env = {**os.environ, "PATH": f"{bin_dir}:{python.parent}:{os.environ['PATH']}"}  # Parsl's interchange.py
    env.pop("PYTHONPATH", None)
    c0, t0 = children_cpu(), time.perf_counter()
    (folder / "work").mkdir()
    done = subprocess.run([str(python), str(script), str(jobs), str(sleep_s), str(folder / "work")], env=env,
                          capture_output=True, text=True, timeout=900, cwd=folder)
    elapsed, cpu = time.perf_counter() - t0, children_cpu() - c0
    if done.returncode != 0:
        raise RuntimeError(f"{tool}: exit {done.returncode}\n{done.stderr[-3000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    if answer.get("failed"):
        raise RuntimeError(f"{tool}: {answer['failed']} jobs did not complete")
    return {"wall": answer["wall"], "cpu": cpu, "process_s": elapsed, "calls": counts(bin_dir)}


def plain(base: Path, jobs: int, sleep_s: float, lz_shape: bool = False) -> dict[str, object]:
    """``sbatch --wrap 'sleep S'`` N times, then one ``squeue`` every second until none is left.
    ``lz_shape``: the batch script lz submits instead (its wrapper, the command as an ``srun``
    step, ``--export=NONE``): what the job's shape costs on this Slurm, apart from lz."""
    from lz.executors.base import wrapper_script

    folder = base / ("plain-lz" if lz_shape else "plain")
    bin_dir = shims(folder / "shims")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    c0, start = children_cpu(), time.perf_counter()
    ids = set()
    for i in range(jobs):
        meta = folder / f"j{i}"
        meta.mkdir()
        shape = ([f"--output={meta}/slurm.out", "--export=NONE", str(wrapper_script()), str(meta),
                  "srun", "--ntasks=1", "--cpus-per-task=1", "sleep", f"{sleep_s:g}"] if lz_shape
                 else [f"--output={meta}/slurm.out", f"--wrap=sleep {sleep_s:g}"])
        out = subprocess.run(["sbatch", "--parsable", f"--job-name=plain-{i}", f"--chdir={meta}",
                              "--ntasks=1", "--cpus-per-task=1", *shape], env=env, capture_output=True, text=True,
                             check=True).stdout
        ids.add(out.strip().split(";")[0])
    while True:
        out = subprocess.run(["squeue", "--noheader", "--states=PENDING,RUNNING,CONFIGURING,COMPLETING", "-o", "%i"],
                             env=env, capture_output=True, text=True).stdout
        if not ids & set(out.split()):
            break
        time.sleep(1)
    return {"wall": time.perf_counter() - start, "cpu": children_cpu() - c0, "calls": counts(bin_dir)}


def gateway(base: Path, jobs: int, sleep_s: float) -> dict[str, object]:
    from bench.job_cost import zone_run

    bin_dir = shims(base / "gateway-shims")
    result = zone_run(base / "gateway", jobs, "slurm", None, sleep_s,
                      extra_env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    per_job = result["daemon_cpu"] + result["submit_cpu"]  # type: ignore[operator]
    return {"wall": result["total"], "cpu": per_job * jobs, "calls": counts(bin_dir),
            "submit_cpu": result["submit_cpu"], "daemon_cpu": result["daemon_cpu"]}


def pilots(base: Path, jobs: int, sleep_s: float) -> dict[str, object]:
    from bench.job_cost import pilot_run

    result = pilot_run(base / "pilots", jobs, pilots=2, sleep_s=sleep_s)
    return {"wall": result["total"], "cpu": result["daemon_cpu"] * jobs,  # type: ignore[operator]
            "calls": {"sbatch": 1, "squeue": 0}, "next_start": result["wall"]["next start"],  # type: ignore[index]
            "requests": result["requests"]}


def table(results: dict[str, dict[str, object]], jobs: int, sleep_s: float) -> str:
    base = results.get("plain")
    lines = [f"| {jobs} jobs of {sleep_s:g} s | wall | vs plain | CPU (per job) | sbatch | squeue | sacct |",
             "|---|---|---|---|---|---|---|"]
    names = {"plain": "plain sbatch + squeue every 1 s",
             "plain-lz": "the same, lz's batch script (wrapper, `srun` step, `--export=NONE`)", "submitit": "submitit", "psij": "PSI/J (queue poll 1 s)",
             "parsl": "Parsl HTEX, 2 blocks of 1 CPU", "gateway": "lz gateway (`lz submit` each)",
             "pilots": "lz, 2 pilots of 1 CPU"}
    for tool, r in results.items():
        wall, cpu = float(r["wall"]), float(r["cpu"])  # type: ignore[arg-type]
        ratio = f"{wall / float(base['wall']):.2f}x" if base else ""  # type: ignore[arg-type]
        calls: dict[str, int] = r["calls"]  # type: ignore[assignment]
        lines.append(f"| {names[tool]} | {wall:.1f} s | {ratio} | {cpu:.2f} s ({cpu / jobs * 1000:.0f} ms) | "
                     f"{calls.get('sbatch', '')} | {calls.get('squeue', '')} | {calls.get('sacct', '')} |")
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
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--only", default=",".join(TOOLS))
    args = parser.parse_args()
    chosen = [t for t in args.only.split(",") if t]
    compiled()
    python = compare_venv() if {"submitit", "psij", "parsl"} & set(chosen) else None
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="lz-bench-compare-", dir=os.environ.get("TMPDIR")) as tmp:
        base = Path(tmp)
        for tool in chosen:
            try:
                if tool in ("plain", "plain-lz"):
                    results[tool] = plain(base, args.jobs, args.sleep, lz_shape=tool == "plain-lz")
                elif tool in SCRIPTS:
                    assert python is not None
                    results[tool] = third_party(tool, python, base, args.jobs, args.sleep)
                elif tool == "gateway":
                    results[tool] = gateway(base, args.jobs, args.sleep)
                elif tool == "pilots":
                    results[tool] = pilots(base, args.jobs, args.sleep)
            except Exception as exc:  # noqa: BLE001 - one tool failing still leaves the others' figures
                print(f"{tool}: failed: {exc}", file=sys.stderr)
            else:
                print(f"{tool}: {float(results[tool]['wall']):.1f} s", file=sys.stderr, flush=True)  # type: ignore[arg-type]
    if python is not None:
        print(versions(python))
    print(table(results, args.jobs, args.sleep))
    if "pilots" in results:
        from bench.job_cost import requests_line

        next_start = results["pilots"]["next_start"]
        print(f"lz pilots: {requests_line(results['pilots']['requests'])}"  # type: ignore[arg-type]
              + (f"; a job's end to the next one's start {float(next_start) * 1000:.0f} ms" if next_start else ""))  # type: ignore[arg-type]
    if "gateway" in results:
        r = results["gateway"]
        print(f"lz gateway CPU per job: `lz submit` {float(r['submit_cpu']) * 1000:.0f} ms + daemon and its programs "  # type: ignore[arg-type]
              f"{float(r['daemon_cpu']) * 1000:.0f} ms")  # type: ignore[arg-type]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    main()
