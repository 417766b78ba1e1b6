"""A SLURM gateway daemon for a bench: its settings and store (to receive jobs in-process, without
an ``lz submit`` each) and the running ``lz run``; shared by the throughput and sweep benches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lz.config import Settings, load_settings  # noqa: E402
from lz.store.db import make_engine  # noqa: E402
from lz.store.jobs import JobStore  # noqa: E402
from lz.store.migrate import upgrade  # noqa: E402


@dataclass
class Gateway:
    settings: Settings
    store: JobStore
    pid: int

    def wake(self) -> None:
        """What ``lz submit`` does after writing a job: the daemon looks at once."""
        os.kill(self.pid, signal.SIGUSR1)


@contextmanager
def gateway_daemon(base: Path, *, tick: float, config: str = "", env: Mapping[str, str] | None = None) -> Iterator[Gateway]:
    """``lz run`` with the SLURM executor and no container runtime, its state under ``base``;
    stopped with SIGTERM (and waited for) on the way out."""
    state = base / "lz"
    environ = {**os.environ, **(env or {}), "LZ_DB": str(state / "lz.db"), "LZ_WORKDIR": str(base / "work"),
               "LZ_CONTAINER": "slurm", "LZ_RUNTIME": "none", "LZ_CONFIG": str(base / "config.toml")}
    (base / "config.toml").write_text(config)
    settings = load_settings(base / "config.toml", environ=environ)
    db = make_engine(settings.db)
    upgrade(db)
    with open(base / "daemon.log", "w") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "lz.cli", "run", "--tick", str(tick)], env=environ, stderr=log)
    try:
        while not (state / "lz.pid").exists():
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon exited {daemon.returncode}: see {base / 'daemon.log'}")
            time.sleep(0.05)
        yield Gateway(settings, JobStore(db), int((state / "lz.pid").read_text()))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        db.dispose()
