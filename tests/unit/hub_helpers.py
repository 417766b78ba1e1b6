"""A hub app on a real SQLite file in a temporary directory, with a clock the test moves."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from lz.hub.server.app import create_app
from lz.hub.server.config import HubConfig
from lz.hub.server.domain import accounts
from tests.clock import Clock

HUB_EPOCH = 1_800_000_000.0  # the hub tests' clock starts here: dates in the pages are fixed


def job_tarball(command: str = '["echo", "hi"]', files: dict[str, bytes] | None = None, top: str = "job") -> bytes:
    buf = io.BytesIO()
    entries = {"lz.toml": f"command = {command}\n".encode(), **(files or {})}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def results_tar(stdout: bytes = b"out\n") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        for name, data in {"manifest.json": b"{}", "stdout": stdout, "results.tar.gz": b"x"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class HubApp:
    def __init__(self, client: TestClient, clock: Clock):
        self.client = client
        self.clock = clock
        self.hub = client.app.state.hub  # type: ignore[attr-defined]
        self._keys = 0

    def user(self, name: str, *, admin: bool = False, scope: str = "user", expires_s: float | None = None) -> str:
        def _add(conn: Any) -> str:
            try:
                accounts.user_id(conn, name)
            except Exception:
                accounts.add_user(conn, name, admin, self.clock())
            return accounts.create_token(conn, name, self.clock(), expires_s, scope)[1]

        return str(self.hub.write(_add))

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> Any:
        headers = self.auth(token) if token else {}
        return self.client.request(method, "/api/v1" + path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        response = self.call(method, path, token, **kwargs)
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json()

    def station_with_zone(self, token: str, station: str = "s1", lz: str = "lz1") -> None:
        self.ok("POST", "/stations", token, json={"name": station})
        self.ok("POST", "/lz/register", token, json={"name": lz, "cpus": 4})
        self.ok("PUT", f"/stations/{station}/zones/{lz}", token)

    def submit(self, token: str, station: str = "s1", body: bytes | None = None, **params: Any) -> Any:
        self._keys += 1
        params.setdefault("key", f"key-{self._keys:08d}")
        return self.call("POST", f"/stations/{station}/jobs", token, content=body or job_tarball(), params=params)

    def claim(self, token: str, lz: str = "lz1", wait_s: float = 0, max_jobs: int = 1) -> list[Any]:
        return list(self.ok("POST", "/lz/claim", token, json={"name": lz, "wait_s": wait_s,
                                                              "max_jobs": max_jobs})["jobs"])


_migrated: list[bytes] = []  # the migrated hub database, built once per process (per xdist worker)


def migrated_hub_db(path: Path) -> None:
    """Put a hub database at ``path`` at the newest revision: Alembic runs once per process (2-5 s),
    every later call copies its bytes (a few ms). ``test_hub_api`` checks the migrations themselves."""
    if not _migrated:
        from lz.hub.server import db

        build = path.with_name(path.name + ".template")
        engine = db.make_hub_engine(f"sqlite:///{build}")
        db.upgrade(engine)
        engine.dispose()  # the last connection checkpoints the WAL into the file
        _migrated.append(build.read_bytes())
        build.unlink()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(_migrated[0])
    path.chmod(0o600)


@contextmanager
def hub_app(tmp_path: Path, lease_s: float = 30.0, **config: Any) -> Iterator[HubApp]:
    clock = Clock(HUB_EPOCH)
    migrated_hub_db(tmp_path / "hub" / "hub.db")
    app = create_app(HubConfig(db_url=f"sqlite:///{tmp_path / 'hub' / 'hub.db'}", files_dir=tmp_path / "hub" / "files",
                               lease_s=lease_s, clock=clock, **config), migrate=False)
    with TestClient(app) as client:
        yield HubApp(client, clock)


@contextmanager
def tenant_hub_app(tenant: Any, tmp_path: Path) -> Iterator[HubApp]:
    """A hub that signs in through the fake Auth0 ``tenant`` (``tests.fake_tenant``)."""
    from lz.hub.server.config import Auth0Config

    config = Auth0Config(domain=tenant.domain, client_id=tenant.client_id, audience=tenant.audience, scheme="http",
                         jwks_cooldown_s=0)
    with hub_app(tmp_path, auth0=config) as h:
        yield h


def login_csrf(text: str) -> str:
    """The CSRF token of a sign-in page's form."""
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found, "no csrf field in the sign-in form"
    return found.group(1)


def sign_in(client: Any, name: str, password: str, next: str = "/", **kwargs: Any) -> Any:
    """Sign in as a browser does: open the sign-in page (its cookie and form token), then post it."""
    token = login_csrf(client.get("/login", params={"next": next}).text)
    return client.post("/login", data={"name": name, "password": password, "next": next, "csrf": token}, **kwargs)
