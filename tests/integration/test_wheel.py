"""The wheel, as a user gets it (issue 24, "Packaging" and item 11): built from this checkout by
pip (setuptools-scm gives the version), installed into a fresh venv with only the base install
(no hub extra: no web stack), where ``lz --help`` loads no web framework, a job runs through a
local landing zone, and the pilot image's base is made from that venv's interpreter, which is
pyenv's where there is one (a Python outside ``/usr``: its standard library must come along).

The venv installs offline: ``pip --no-index --find-links`` a wheelhouse repacked from this test
venv's installed distributions (tests/integration/wheelhouse.py). Building lz's wheel needs the
build requirements (setuptools-scm): from PyPI or pip's cache, as ``scripts/bootstrap`` does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone
from tests.integration.test_hub_end_to_end import make_job
from tests.integration.wheelhouse import wheelhouse

ROOT = Path(__file__).resolve().parents[2]
WEB_STACK = ("fastapi", "starlette", "uvicorn", "jinja2")
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout on PYTHONPATH: the venv must run its own lz."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", **extra}


def _name(requirement: str) -> str:
    return re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0].lower()


def _other_python() -> str:
    """A Python 3.11 from outside /usr when there is one (pyenv, conda), else this one's base."""
    for candidate in (shutil.which("python3.11"), shutil.which("python3"), "/usr/bin/python3.11"):
        if not candidate:
            continue
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 11), sys.base_prefix)"],
                               capture_output=True, text=True, env=_clean_env(), check=False)
        same_minor, _, prefix = probe.stdout.strip().partition(" ")
        if probe.returncode == 0 and same_minor == "True" and prefix != "/usr":
            return candidate
    return "/usr/bin/python3.11"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the wheel, a venv with it installed, base only)."""
    tmp = tmp_path_factory.mktemp("wheel")
    had_build = (ROOT / "build").exists()
    try:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(ROOT)],
                       check=True, capture_output=True, text=True, env=_clean_env(), timeout=600)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"pip wheel failed:\n{exc.stdout}\n{exc.stderr}")
    finally:
        if not had_build:
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    wheel = next((tmp / "dist").glob("lz-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        requires = Parser().parsestr(archive.read(info).decode()).get_all("Requires-Dist") or []
    wheelhouse(requires, tmp / "wheelhouse")
    venv = tmp / "venv"
    subprocess.run([_other_python(), "-m", "venv", str(venv)], check=True, env=_clean_env(), timeout=300)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--find-links",
                    str(tmp / "wheelhouse"), str(wheel)], check=True, env=_clean_env(), timeout=600)
    yield wheel, venv


def test_the_wheel_carries_the_pilot_definition_and_the_hub_is_an_extra(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        meta = Parser().parsestr(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    assert {"lz/ops/landing-zone-daemon.def", "lz/migrations/env.py", "lz/wrapper/job.sh",
            "lz/hub/server/web/templates/base.html"} <= names
    requires = meta.get_all("Requires-Dist") or []
    base = {_name(r) for r in requires if "extra ==" not in r}
    hub = {_name(r) for r in requires if 'extra == "hub"' in r}
    assert "click" in base and "sqlalchemy" in base and not base & {"fastapi", "uvicorn", "jinja2", "argon2-cffi"}
    assert {"fastapi", "uvicorn", "jinja2", "argon2-cffi", "psycopg"} <= hub
    assert meta["Version"] and meta["Version"] != "0.1.0"  # from git (setuptools-scm), not a written number


def test_the_base_install_imports_no_web_stack(built: tuple[Path, Path]) -> None:
    wheel, venv = built
    python = str(venv / "bin/python")
    version = subprocess.run([str(venv / "bin/lz"), "--version"], capture_output=True, text=True, check=True,
                             env=_clean_env()).stdout.strip()
    assert version == f"lz {wheel.name.split('-')[1]}"
    probe = f"import importlib.util as u; print([m for m in {WEB_STACK!r} if u.find_spec(m)])"
    missing = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True, check=True, env=_clean_env())
    assert missing.stdout.strip() == "[]"  # not even installed
    for argv in ([python, "-I", "-X", "importtime", "-m", "lz", "--help"],
                 [python, "-I", "-X", "importtime", "-c", "import lz.cli, lz.daemon, lz.hub.agent.agent"]):
        done = subprocess.run(argv, capture_output=True, text=True, env=_clean_env(), check=True)
        loaded = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
        assert not loaded & set(WEB_STACK), argv
    # a hub command says what to install, in one line
    serve = subprocess.run([str(venv / "bin/lz"), "hub", "serve", "--db", str(venv / "hub.db")],
                           capture_output=True, text=True, env=_clean_env(), timeout=60)
    assert serve.returncode == 2 and serve.stderr.strip().splitlines() == [
        "lz: error: lz hub: the hub's packages are not installed (no module uvicorn): pip install 'lz[hub]'"], \
        serve.stderr


class _VenvZone(LandingZone):
    def __init__(self, base: Path, venv: Path):
        super().__init__(base)
        self.env = {**_clean_env(), **{k: v for k, v in self.env.items() if k.startswith("LZ_")}}
        self.daemon.env = self.env
        self.python = str(venv / "bin/python")

    def run_argv(self) -> list[str]:
        return [self.python, "-I", "-m", "lz", "run", "--container", "none", "--tick", str(self.tick), "-v"]

    def cli(self, *args: str, check: bool = True, timeout: float = 120,
            lz: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.python, "-I", *(["-m", "lz"] if lz else []), *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"lz {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result


def test_a_job_runs_through_a_landing_zone_of_the_base_install(built: tuple[Path, Path], tmp_path: Path) -> None:
    _, venv = built
    zone = _VenvZone(tmp_path / "zone", venv)
    zone.start()
    try:
        job_id = zone.submit(make_job(tmp_path / "job", 1), "--wait")
        assert zone.cli("logs", job_id).stdout == "done 1\n"
        where = zone.cli("-c", "import lz; print(lz.__file__)", lz=False).stdout
        assert where.startswith(str(venv)), where  # the venv's lz ran, not this checkout's
    finally:
        zone.stop()
    assert "fastapi" not in zone.daemon_log()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("chroot") is None or shutil.which("busybox") is None,
                    reason="chroot into the image's base needs root, chroot and busybox")
def test_the_pilot_image_base_from_this_venv_has_its_standard_library(built: tuple[Path, Path],
                                                                       tmp_path: Path) -> None:
    """Item 11: from a pyenv venv the image's interpreter found no ``encodings``. The base is made
    by the venv's own lz and entered with chroot, as apptainer's %post would."""
    _, venv = built
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    subprocess.run([str(venv / "bin/python"), "-I", "-c", "import sys; from pathlib import Path; "
                    "from lz.ops.pilot_image import make_rootfs; make_rootfs(Path(sys.argv[1]))", str(rootfs)],
                   check=True, env=_clean_env(), timeout=600)
    done = subprocess.run([str(shutil.which("chroot")), str(rootfs), "/usr/bin/python3.11", "-I", "-c",
                           "import encodings, ssl, sqlite3, sqlalchemy, click, pip; print('ok')"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr
    # what anyone who reads the image sees: the interpreter, its standard library, lz's dependencies;
    # none of the builder's other packages (pyenv's own site-packages), no path of the builder's home
    shipped = {p.name.split("-")[0].lower() for p in rootfs.rglob("*.dist-info")}
    assert {"sqlalchemy", "click", "pip"} <= shipped and not shipped & {"pytest", "fastapi", "ipython", "mypy"}
    prefix = subprocess.run([str(venv / "bin/python"), "-c", "import sys; print(sys.base_prefix)"], env=_clean_env(),
                            capture_output=True, text=True, check=True).stdout.strip()
    assert prefix == "/usr" or not (rootfs / prefix.lstrip("/")).exists()


@pytest.mark.apptainer
@pytest.mark.skipif(shutil.which("apptainer") is None, reason="no apptainer")
def test_the_pilot_image_builds_from_the_installed_wheel(built: tuple[Path, Path], tmp_path: Path) -> None:
    """``lz pilots image build`` of the installed wheel (no checkout), on the venv's interpreter."""
    wheel, venv = built
    image = tmp_path / "pilot.sif"
    done = subprocess.run([str(venv / "bin/lz"), "pilots", "image", "build", "-o", str(image)], cwd=tmp_path,
                          capture_output=True, text=True, env=_clean_env(), timeout=900)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(image)
    version = wheel.name.split("-")[1]
    ran = subprocess.run(["apptainer", "exec", str(image), "/usr/bin/python3.11", "-I", "-m", "lz", "--version"],
                         capture_output=True, text=True, env=_clean_env(), timeout=120)
    assert ran.stdout.strip() == f"lz {version}", ran.stderr
