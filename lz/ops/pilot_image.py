"""``lz pilots image build``: the pilot image (``landing-zone-daemon.def``, shipped in the wheel),
built OFFLINE from what this lz runs on.

A small root file system is made from this host: the interpreter lz runs on (its binary, standard
library and shared libraries), the installed dependencies of lz (importlib.metadata), busybox for
a shell; then a wheel of the lz that is running (a checkout or an installed wheel alike) and
``apptainer build`` of the definition with ``Bootstrap: localimage`` from that directory.

Any supported Python works (issue 24, item 11): a Debian interpreter under ``/usr`` keeps its
place; any other (pyenv, conda, environment modules) is carried from its real prefix,
``sys.base_prefix``, to ``/opt/python`` in the image (``/usr/bin/python3.11`` links to it), with the
shared libraries from that prefix in ``/usr/lib``: the image never depends on the host's path to it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DEFINITION = Path(__file__).with_name("landing-zone-daemon.def")
IMAGE_PREFIX = Path("/opt/python")
"""Where a Python from outside ``/usr`` lives in the image."""
_SKIP_IN_STDLIB = ("__pycache__", "test", "tests", "site-packages", "config-3*", "idlelib", "tkinter", "turtledemo")


class ImageError(Exception):
    """The image cannot be built here; the message says what is missing and how to get it."""


@dataclass(frozen=True)
class Interpreter:
    """The real interpreter behind the running one (a venv's base), and where it goes in the image."""

    executable: Path  # the binary, symlinks resolved
    prefix: Path  # sys.base_prefix
    stdlib: Path
    version: str  # "3.11"

    @classmethod
    def running(cls) -> Interpreter:
        base = getattr(sys, "_base_executable", None) or sys.executable
        return cls(executable=Path(os.path.realpath(base)), prefix=Path(sys.base_prefix),
                   stdlib=Path(sysconfig.get_paths()["stdlib"]),
                   version=f"{sys.version_info.major}.{sys.version_info.minor}")

    @property
    def under_usr(self) -> bool:
        return self.prefix == Path("/usr")

    @property
    def image_prefix(self) -> Path:
        return self.prefix if self.under_usr else IMAGE_PREFIX

    @property
    def image_site(self) -> Path:
        """Where the dependencies go: where the image's interpreter looks for them."""
        if self.under_usr:  # Debian's scheme (its pip and site.py use dist-packages)
            return Path(f"/usr/local/lib/python{self.version}/dist-packages")
        return self.image_prefix / f"lib/python{self.version}/site-packages"


def closure(name: str) -> set[str]:
    """The installed distributions ``name`` needs (extras left out), ``name`` included."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        dist = md.distribution(todo.pop())
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            dep = re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0]
            try:
                md.distribution(dep)
            except md.PackageNotFoundError:
                continue
            todo.append(dep)
    return seen


def _copy(src: Path, rootfs: Path, dest: Path | None = None) -> None:
    target = rootfs / (dest or src).relative_to("/")
    if target.exists() or target.is_symlink():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink() and dest is None:
        link = os.readlink(src)
        target.symlink_to(link)
        _copy((src.parent / link).resolve(), rootfs)
    elif src.is_dir():
        shutil.copytree(src, target, symlinks=True, ignore=shutil.ignore_patterns(*_SKIP_IN_STDLIB))
    else:
        shutil.copy2(src.resolve(), target)


def libraries(files: Iterable[Path]) -> set[Path]:
    """The shared libraries these binaries load (ldd)."""
    found: set[Path] = set()
    for path in files:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False).stdout
        for match in re.finditer(r"(/\S+\.so[^\s]*)", out):
            found.add(Path(match.group(1)))
    return found


def make_rootfs(rootfs: Path, python: Interpreter | None = None) -> None:
    """The image's base: the interpreter, its standard library, lz's dependencies, busybox."""
    python = python or Interpreter.running()
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).is_file():
        raise ImageError("busybox not found: the image's shell (Debian: apt install busybox-static)")
    for name in ("bin", "lib", "lib64", "sbin"):  # merged /usr, as Debian has it
        (rootfs / "usr" / name).mkdir(parents=True)
        (rootfs / name).symlink_to(f"usr/{name}")
    binary = python.image_prefix / f"bin/python{python.version}"
    _copy(python.executable, rootfs, binary)
    if not python.under_usr:
        (rootfs / f"usr/bin/python{python.version}").symlink_to(binary)
    (rootfs / "usr/bin/python3").symlink_to(f"python{python.version}")
    stdlib = python.image_prefix / f"lib/python{python.version}"
    _copy(python.stdlib, rootfs, stdlib)
    (rootfs / stdlib.relative_to("/") / "EXTERNALLY-MANAGED").unlink(missing_ok=True)
    site = rootfs / python.image_site.relative_to("/")
    site.mkdir(parents=True)
    for name in sorted(closure("lz") - {"lz"} | {"pip"}):
        _copy_distribution(md.distribution(name), site)
    objects = [python.executable, *(rootfs / stdlib.relative_to("/") / "lib-dynload").glob("*.so"), *site.rglob("*.so")]
    for lib in libraries(objects):
        if lib.is_relative_to(python.prefix):  # the interpreter's own (libpython): where the loader looks
            _copy(lib, rootfs, Path("/usr/lib") / lib.name)
        else:
            _copy(lib, rootfs)
    bin_dir = rootfs / "usr/bin"
    shutil.copy2(busybox, bin_dir / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=False).stdout.split()
    for applet in applets:
        if not (bin_dir / applet).exists():
            (bin_dir / applet).symlink_to("busybox")
    (rootfs / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    for name in ("tmp", "etc", "root", "var/tmp"):
        (rootfs / name).mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")  # Apptainer adds the user's entry
    (rootfs / "etc/group").write_text("root:x:0:\n")


def _copy_distribution(dist: md.Distribution, site: Path) -> None:
    top = Path(str(dist.locate_file(""))).resolve()
    for rel in dist.files or []:
        src = Path(str(dist.locate_file(rel))).resolve()
        if "__pycache__" in src.parts or not src.is_file():
            continue
        try:
            inside = src.relative_to(top)
        except ValueError:
            continue  # scripts outside site-packages
        (site / inside).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, site / inside)


# -- a wheel of the running lz -------------------------------------------------------------------
def _package_files() -> dict[str, Path]:
    """Every file of the lz that runs, by its path in a wheel: an installed wheel's package, or a
    checkout's (whose ``lz.migrations`` lives in ``migrations/``, setup.cfg's package_dir)."""
    import lz

    package = Path(lz.__file__).resolve().parent
    roots = [("lz", package)]
    spec = importlib.util.find_spec("lz.migrations")
    if spec is not None and spec.submodule_search_locations:
        migrations = Path(next(iter(spec.submodule_search_locations))).resolve()
        if not migrations.is_relative_to(package):
            roots.append(("lz/migrations", migrations))
    files: dict[str, Path] = {}
    for arc, root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[f"{arc}/{path.relative_to(root).as_posix()}"] = path
    return files


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def lz_wheel(directory: Path) -> Path:
    """A pure wheel of the running lz, made here (no build tools, no network): its files and its
    installed metadata (version, requirements, entry points)."""
    dist = md.distribution("lz")
    version = dist.version
    info = f"lz-{version}.dist-info"
    path = directory / f"lz-{version.replace('-', '_')}-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    record: list[str] = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        def add(name: str, data: bytes) -> None:
            wheel.writestr(name, data)
            record.append(_record_line(name, data))

        for name, src in _package_files().items():
            add(name, src.read_bytes())
        add(f"{info}/METADATA", (dist.read_text("METADATA") or f"Metadata-Version: 2.1\nName: lz\nVersion: {version}\n").encode())
        add(f"{info}/entry_points.txt", (dist.read_text("entry_points.txt") or "").encode())
        add(f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: lz pilots image build\nRoot-Is-Purelib: true\n"
                             b"Tag: py3-none-any\n")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


# -- the image -----------------------------------------------------------------------------------
def build(output: Path, *, scratch: Path = Path("/var/tmp")) -> Path:
    """Build the image at ``output``; the scratch folder (rootfs, wheel) is removed either way."""
    import lz

    apptainer = shutil.which("apptainer") or shutil.which("singularity")
    if apptainer is None:
        raise ImageError("apptainer (or singularity) not found on PATH: it builds the image")
    with tempfile.TemporaryDirectory(prefix="lz-pilot-image-", dir=scratch) as tmp:
        work = Path(tmp)
        rootfs = work / "rootfs"
        rootfs.mkdir()
        make_rootfs(rootfs)
        wheel = lz_wheel(work / "wheel")
        argv = [apptainer, "build", "--force"]
        if os.getuid() != 0:
            argv.append("--fakeroot")
        argv += ["--build-arg", f"BASE={rootfs}", "--build-arg", f"WHEEL={wheel}",
                 "--build-arg", f"VERSION={lz.__version__}", str(output), str(DEFINITION)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise ImageError(f"apptainer build failed (exit {done.returncode}):\n{tail}")
    return output
