#!/usr/bin/env python3
"""Collection speed: a work tree of 100,000 small files in 1,000 directories, of which 1,000
change (500 modified, 500 new).

Times lz's collection (walk after the run comparing with the snapshot + sha256 + tar.gz of the
changed files + manifest + fsync; the walk by find(1) where the snapshot's clock allows, as on a
local filesystem, see lz/results/find_walk.py; ``--no-find``: by Python walkers) next to
``find ROOT -newer STAMP -type f -print0 | tar --null -T - -czf`` on the same tree in the same
process, gzip level 1 for both (lz's level; the same level on both sides keeps it fair), after a
warm-up round of each (the page cache cannot be dropped, so both run warm). The snapshot before the run is timed apart: it
happens before the job starts. Goal: lz within 1.2x of the pair. CPU time (this process and all its
children) is printed too: on a machine whose CPUs are busy, the wall-clock ratio follows it.

    python3 bench/collect_bench.py [--files 100000] [--per-dir 100] [--changes 1000] [--repeat 5] [--workers N]
                                   [--no-find]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lz.results.changes import by_find, changes_since  # noqa: E402
from lz.results.collect import COMPRESSLEVEL, collect  # noqa: E402
from lz.results.manifest import Manifest, snapshot  # noqa: E402
from lz.results.walk import default_workers, open_dir  # noqa: E402


def make_tree(root: Path, files: int, per_dir: int) -> list[str]:
    paths = []
    for i in range(files):
        directory = f"{root}/d{i // per_dir:04d}"
        if i % per_dir == 0:
            os.makedirs(directory)
        path = f"{directory}/f{i:06d}.txt"
        with open(path, "wb") as handle:
            handle.write(b"%06d " % i + b"x" * 57)
        paths.append(path)
    return paths


def run_job(paths: list[str], root: Path, changes: int, round_: int) -> None:
    """Modify half the changes (spread over the tree), add the other half in a new directory."""
    step = len(paths) // (changes // 2)
    for path in paths[::step][: changes // 2]:
        with open(path, "wb") as handle:
            handle.write(b"modified in round %d\n" % round_ * 4)
    new_dir = root / f"new{round_}"
    new_dir.mkdir()
    for i in range(changes - changes // 2):
        (new_dir / f"n{i}.txt").write_bytes(b"new file %d\n" % i * 6)


def baseline(root: Path, stamp: Path, out: Path) -> float:
    start = time.perf_counter()
    find = subprocess.Popen(["find", str(root), "-newer", str(stamp), "-type", "f", "-print0"],
                            stdout=subprocess.PIPE)
    subprocess.run(["tar", "--null", "-T", "-", "-I", f"gzip -{COMPRESSLEVEL}", "-cf", str(out)],
                   stdin=find.stdout, check=True, stderr=subprocess.DEVNULL)
    assert find.stdout is not None
    find.stdout.close()
    find.wait()
    return time.perf_counter() - start


def synced(out: Path) -> float:
    """Seconds to fsync the baseline's archive, as lz does its own (its results survive a crash)."""
    start = time.perf_counter()
    fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children (find, tar, gzip; lz's forked walkers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def seconds(times: list[float]) -> str:
    return f"best {min(times):.3f}s, median {statistics.median(times):.3f}s of " + " ".join(f"{t:.3f}" for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--per-dir", type=int, default=100)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None,
                        help="walker processes (default: one per idle CPU, at most 4, as the daemon does)")
    parser.add_argument("--no-find", action="store_true",
                        help="walk in Python, as where find cannot be used (the snapshot's clock forgotten)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lz-bench-") as tmp:
        base = Path(tmp)
        root = base / "work"
        t0 = time.perf_counter()
        paths = make_tree(root, args.files, args.per_dir)
        print(f"tree: {args.files} files in {args.files // args.per_dir} directories under {base}, "
              f"made in {time.perf_counter() - t0:.1f}s")
        lz_times, base_times, snap_times, walk_times, lz_cpu, base_cpu = [], [], [], [], [], []
        synced_times, walkers = [], []
        before = Manifest()
        for round_ in range(args.repeat + 1):  # round 0 is the warm-up of both
            t0 = time.perf_counter()
            before = snapshot(root)
            snap_times.append(time.perf_counter() - t0)
            if args.no_find:
                before.since = None
            stamp = base / "stamp"
            stamp.touch()
            time.sleep(0.05)  # past the filesystem's coarse timestamps
            run_job(paths, root, args.changes, round_)
            # alternate who goes first, so neither always meets the other's leftovers in the cache
            order = ("lz", "find") if round_ % 2 else ("find", "lz")
            for who in order:
                c0 = cpu_seconds()
                if who == "lz":
                    # what collect is about to choose, near enough
                    walkers.append("find" if by_find(before, open_dir) else str(args.workers or default_workers()))
                    t0 = time.perf_counter()
                    summary = collect({"": (root, before)}, base / f"results{round_}", {}, workers=args.workers)
                    lz_time = time.perf_counter() - t0
                    lz_c = cpu_seconds() - c0
                else:
                    base_time = baseline(root, stamp, base / f"baseline{round_}.tar.gz")
                    base_c = cpu_seconds() - c0
                    sync_time = base_time + synced(base / f"baseline{round_}.tar.gz")
            assert summary.added + summary.modified == args.changes, summary
            t0 = time.perf_counter()
            changes_since(root, before)
            walk = time.perf_counter() - t0
            if round_:
                lz_times.append(lz_time)
                base_times.append(base_time)
                synced_times.append(sync_time)
                walk_times.append(walk)
                lz_cpu.append(lz_c)
                base_cpu.append(base_c)
            shutil.rmtree(base / f"results{round_}")
        # memory: the last round again under tracemalloc (slower, so not among the timings)
        tracemalloc.start()
        collect({"": (root, before)}, base / "results-traced", {})
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ratio, median_ratio = min(lz_times) / min(base_times), statistics.median(lz_times) / statistics.median(base_times)
        print(f"snapshot before the run (not in the race): {seconds(snap_times[1:])}")
        print(f"lz collect (walk+compare, sha256, tar.gz, manifest, fsync): {seconds(lz_times)}")
        print(f"  of which the walk comparing with the snapshot:            {seconds(walk_times)}")
        print(f"find -newer | tar czf (gzip -{COMPRESSLEVEL}):                         {seconds(base_times)}")
        print(f"ratio lz / baseline: {ratio:.2f}x best-to-best, {median_ratio:.2f}x median-to-median (goal <= 1.2x)")
        print(f"  with the baseline's archive fsynced as lz's is: {seconds(synced_times)}; ratio "
              f"{min(lz_times) / min(synced_times):.2f}x best, {statistics.median(lz_times) / statistics.median(synced_times):.2f}x median")
        print(f"CPU time, all processes: lz {seconds(lz_cpu)}")
        print(f"                         find+tar+gzip {seconds(base_cpu)}")
        print(f"CPU ratio lz / baseline: {min(lz_cpu) / min(base_cpu):.2f}x best-to-best, "
              f"{statistics.median(lz_cpu) / statistics.median(base_cpu):.2f}x median (what a busy machine's "
              "wall-clock ratio tends to: walkers in parallel help only where CPUs are idle)")
        wall_rounds = [lz / b for lz, b in zip(lz_times, base_times)]
        cpu_rounds = [lz / b for lz, b in zip(lz_cpu, base_cpu)]
        print(f"per round (same round's baseline): wall {' '.join(f'{r:.2f}' for r in wall_rounds)} (median "
              f"{statistics.median(wall_rounds):.2f}x, worst {max(wall_rounds):.2f}x); CPU "
              f"{' '.join(f'{r:.2f}' for r in cpu_rounds)} (median {statistics.median(cpu_rounds):.2f}x, worst "
              f"{max(cpu_rounds):.2f}x)")
        print(f"memory: collect's peak Python allocations {traced_peak / 2**20:.1f} MiB (tracemalloc); "
              f"process peak RSS {rss_mib:.0f} MiB (includes the 100k-entry snapshot held in memory)")
        print(f"walk per round: {' '.join(walkers[1:])} (find, or that many Python walkers: one per idle CPU, at most 4; "
              f"forked ones' memory is not in the tracemalloc figure); cpus: {os.cpu_count()}; load average: "
              + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
