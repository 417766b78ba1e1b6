"""A full results store during collection (issue 8, defect 8): a typed, retryable error with one line
saying why, nothing half-built left behind, and collecting again succeeds once there is room.

The results store is a real 2 MiB tmpfs (root is needed to mount it; the test is skipped without).
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lz.core.errors import CollectionError
from lz.results.collect import collect, read_manifest
from lz.results.manifest import snapshot

pytestmark = pytest.mark.root


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Path]:
    store = tmp_path / "store"
    store.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(store)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield store
    finally:
        subprocess.run(["umount", "-l", str(store)], check=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_full_store_raises_a_retryable_error_and_a_later_try_succeeds(tmp_path: Path, small_store: Path,
                                                                        workers: int) -> None:
    root = tmp_path / "w"
    for d in range(8):
        (root / f"d{d}").mkdir(parents=True)
    before = snapshot(root)
    for d in range(8):
        (root / f"d{d}" / "data.bin").write_bytes(os.urandom(400_000))  # 3.2 MB that gzip cannot shrink
    (tmp_path / "stdout").write_text("hello\n")
    logs = {"stdout": tmp_path / "stdout"}
    dest = small_store / "job"
    with pytest.raises(CollectionError) as caught:
        collect({"": (root, before)}, dest, logs, workers=workers, parallel_from=0)
    message = str(caught.value)
    assert message.startswith(f"no space left on device writing results under {small_store} (at least ")
    assert "\n" not in message and message.endswith(" free)") and caught.value.retryable
    assert os.listdir(small_store) == []  # the half-built result is gone, and its space with it

    subprocess.run(["mount", "-o", "remount,size=16m", str(small_store)], check=True)  # the admin made room
    summary = collect({"": (root, before)}, dest, logs, workers=workers, parallel_from=0)
    assert summary.added == 8 and read_manifest(dest)["logs"] == {"stdout": True}
    with tarfile.open(dest / "results.tar.gz") as tar:
        for d in range(8):
            assert tar.extractfile(f"d{d}/data.bin").read() == (root / f"d{d}" / "data.bin").read_bytes()  # type: ignore[union-attr]
