"""A throwaway PostgreSQL 15 cluster (Debian's ``postgresql`` package) on a loopback port.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user (or
``nobody``); trust authentication on 127.0.0.1 only, and everything under one temporary
directory that ``stop`` removes."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path(os.environ.get("LZ_PG_BIN", "/usr/lib/postgresql/15/bin"))


def available() -> bool:
    return (BIN / "initdb").exists() and (BIN / "pg_ctl").exists()


def _owner() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no postgres or nobody user to own the cluster")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="lz-pg-"))
        self.data = self.base / "data"
        self.port = _port()
        self.owner = _owner()
        self.url = f"postgresql+psycopg://lz@127.0.0.1:{self.port}/lz"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", self.owner, "--"] if self.owner else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=120, cwd=self.base)

    def start(self) -> None:
        if self.owner:
            entry = pwd.getpwnam(self.owner)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        self._run(str(BIN / "initdb"), "-D", str(self.data), "-U", "lz", "--auth=trust", "--no-sync",
                  "-E", "UTF8", "--locale=C")
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "postgres.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                        f"-c max_connections=200", "start")
        self._run(str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "lz", "lz")
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)

    def new_database(self) -> str:
        """A fresh, empty database in this cluster; its URL."""
        import secrets

        import psycopg

        name = f"lz_{secrets.token_hex(4)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=lz dbname=lz", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # a name we made: letters, digits and _
        return f"postgresql+psycopg://lz@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
