#!/usr/bin/env python3
"""Collection speed: a work tree of 100,000 files of which 1,000 change (500 modified, 500 new).

Times lz's collection (snapshot after the run + diff + sha256 + tar.gz of the changed files) next
to `find ROOT -newer STAMP -type f -print0 | tar --null -T - -czf` on the same tree, in the same
run, gzip level 1 for both. Goal: lz within 1.5x of the pair.

    python3 bench/collect_bench.py [--files 100000] [--changes 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from lz.collect import collect
from lz.manifest import snapshot


def make_tree(root: Path, files: int, per_dir: int = 100) -> list[Path]:
    paths = []
    for i in range(files):
        directory = root / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            directory.mkdir(parents=True)
        path = directory / f"f{i:06d}.txt"
        path.write_bytes(b"x" * 64)
        paths.append(path)
    return paths


def change(paths: list[Path], root: Path, changes: int, round_: int) -> None:
    step = len(paths) // (changes // 2)
    for path in paths[::step][: changes // 2]:
        path.write_bytes(b"modified %d\n" % round_ * 8)
    new_dir = root / f"new{round_}"
    new_dir.mkdir()
    for i in range(changes // 2):
        (new_dir / f"n{i}.txt").write_bytes(b"new file %d\n" % i * 8)


def baseline(root: Path, stamp: Path, out: Path) -> float:
    start = time.perf_counter()
    find = subprocess.Popen(["find", str(root), "-newer", str(stamp), "-type", "f", "-print0"], stdout=subprocess.PIPE)
    subprocess.run(["tar", "--null", "-T", "-", "-cf", str(out), "-I", "gzip -1"], stdin=find.stdout,
                   check=True, stderr=subprocess.DEVNULL)
    find.wait()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lz-bench-") as tmp:
        base = Path(tmp)
        root = base / "work"
        t0 = time.perf_counter()
        paths = make_tree(root, args.files)
        print(f"tree: {args.files} files in {args.files // 100} directories, made in {time.perf_counter() - t0:.1f}s")
        lz_times, base_times, snap_times = [], [], []
        for round_ in range(args.repeat + 1):  # round 0 warms the page cache for both
            t0 = time.perf_counter()
            before = snapshot(root)
            snap_times.append(time.perf_counter() - t0)
            stamp = base / "stamp"
            stamp.touch()
            time.sleep(0.02)
            change(paths, root, args.changes, round_)
            t0 = time.perf_counter()
            summary = collect({"": (root, before)}, base / f"results{round_}", {})
            lz_time = time.perf_counter() - t0
            base_time = baseline(root, stamp, base / f"baseline{round_}.tar.gz")
            assert summary.added + summary.modified >= args.changes, summary
            if round_:
                lz_times.append(lz_time)
                base_times.append(base_time)
            shutil.rmtree(base / f"results{round_}")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        lz_best, base_best = min(lz_times), min(base_times)
        print(f"snapshot before the run (not in the race): {min(snap_times[1:]):.3f}s")
        print(f"lz collect (snapshot + diff + sha256 + tar.gz): best {lz_best:.3f}s of {['%.3f' % t for t in lz_times]}")
        print(f"find -newer | tar czf:                          best {base_best:.3f}s of {['%.3f' % t for t in base_times]}")
        print(f"ratio lz / baseline: {lz_best / base_best:.2f}x (goal <= 1.5x)")
        print(f"peak RSS of this process: {peak_mb:.0f} MiB; cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
