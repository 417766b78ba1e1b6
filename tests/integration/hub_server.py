"""A real ``lz hub serve`` subprocess on a loopback port, and landing zones joined to it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration.landing_zone import LandingZone
from tests.integration.processes import Process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HubServer:
    """The hub as a process; ``cli`` runs hub-host commands (``lz hub …``) and clients."""

    def __init__(self, base: Path, *, db: str | None = None, lease_s: float = 30.0, port: int | None = None,
                 files: Path | None = None, config: Path | None = None, store: str | None = None,
                 metrics: bool = False, access_log: bool = True):
        """``access_log``: uvicorn's line a request (``-v``), as the tests want them; a production
        hub's default is without (the load benches: 2-3 % of an idle hub's CPU at 1,000 zones)."""
        self.base = base
        self.access_log = access_log
        self.config = config
        base.mkdir(parents=True, exist_ok=True)
        self.db = db or str(base / "hub.db")
        self.files = files or base / "files"
        self.store = store  # an s3:// URL (tests.s3_server): bundles and results in a bucket, not in files
        self.lease_s = lease_s
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{free_port()}/metrics" if metrics else None
        self.env = {**os.environ, "LZ_HUB_DB": self.db, "XDG_STATE_HOME": str(base / "state"),
                    "XDG_CONFIG_HOME": str(base / "config")}
        if store:
            from tests.s3_server import CREDENTIALS

            self.env.update(CREDENTIALS)  # credentials from the environment, never argv
        self.env.pop("LZ_HUB", None)
        self.server = Process(base, "hub", self.env)

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.server.proc

    def start(self) -> None:
        """Started once its port accepts a connection."""
        self.server.start([sys.executable, "-m", "lz.cli", "hub", "serve", "--listen", f"127.0.0.1:{self.port}",
                           "--files", str(self.files), "--lease", str(self.lease_s),
                           *(["-v"] if self.access_log else []),
                           *(["--store", self.store] if self.store else []),
                           *(["--metrics", self.metrics_url.removeprefix("http://").removesuffix("/metrics")]
                             if self.metrics_url else []),
                           *(["--config", str(self.config)] if self.config else [])], self._answers)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def open_store(self) -> Any:
        """The hub's store, as the hub opens it (``Store``: the folder or the bucket)."""
        from lz.hub.server.storage.choose import open_store_url
        from tests.s3_server import CREDENTIALS

        credentials = self.base / "s3.credentials"  # this process's own: its environment has none
        credentials.write_text(f"[default]\naws_access_key_id = {CREDENTIALS['AWS_ACCESS_KEY_ID']}\n"
                               f"aws_secret_access_key = {CREDENTIALS['AWS_SECRET_ACCESS_KEY']}\n")
        return open_store_url(self.store, self.files, credentials)

    def kill9(self) -> None:
        self.server.kill9()

    def stop(self) -> None:
        self.server.stop(grace=20)

    def log(self) -> str:
        return self.server.log()

    def cli(self, *args: str, check: bool = True, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "lz.cli", *args], env={**self.env, **(env or {})},
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"lz {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def user(self, name: str, *flags: str) -> Path:
        """A user with a token file (0600) of their own; returns the file."""
        self.cli("hub", "user", "add", name)
        token = self.cli("hub", "token", "create", "--user", name, *flags).stdout.strip().splitlines()[-1]
        path = self.base / f"token-{name}-{len(list(self.base.glob(f'token-{name}-*')))}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        return path

    def client(self, token_file: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cli(*args, "--hub", self.url, "--token", str(token_file), check=check)

    def client_json(self, token_file: Path, *args: str) -> Any:
        return json.loads(self.client(token_file, *args, "--json").stdout)

    def station_with_zones(self, token_file: Path, station: str, *zones: str, timeout: float = 30) -> None:
        """Create ``station`` and add ``zones`` to it once the hub has seen them (started zones
        register within seconds)."""
        self.client(token_file, "station", "create", station)
        deadline = time.time() + timeout
        while len(self.client_json(token_file, "zones")) < len(zones) and time.time() < deadline:
            time.sleep(0.2)
        for zone in zones:
            self.client(token_file, "station", "add-lz", station, zone)


def hub_landing_zone(base: Path, hub: HubServer, name: str, token_file: Path, max_running: int = 4,
                     tick: float = 0.3, container: str = "none", extra_args: tuple[str, ...] = (),
                     config: str = "", url: str | None = None, ca: Path | None = None) -> LandingZone:
    """``url``/``ca``: reach the hub through a proxy that ``ca`` vouches for, not straight."""
    return LandingZone(base, tick=tick, container=container, config=config,
                       extra_env={"REQUESTS_CA_BUNDLE": str(ca)} if ca is not None else None,
                       run_args=[*extra_args, "--name", name, "--hub", url or hub.url, "--token", str(token_file),
                                 "--max-running", str(max_running)])


def printed_code(log: Path, timeout: float = 60) -> str:
    """The user code a logging-in landing zone printed (``Code: XXXX-XXXX``) in its log."""
    import re

    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.exists():
            found = re.search(r"^Code: (\S+)$", log.read_text(errors="replace"), re.M)
            if found:
                return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no code printed in {log}")
