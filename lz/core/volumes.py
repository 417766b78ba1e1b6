"""Named volumes: a host path bound into every job at a mount point, read-only or read-write (pure).

A volume comes from the landing zone's configuration (``[volumes.NAME] host_path, mount, access``)
or, for hub jobs, from the Station's volume mapped to this landing zone. Its mount point is
outside the job's work directory (``/lz/work``): collection walks the work directory only, so
nothing of a volume ever comes back as a result.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from lz.core.errors import ConfigError
from lz.core.layout import CONTAINER_WORKDIR
from lz.core.value_class import value_class

ACCESS = ("ro", "rw")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


@value_class
class Volume:
    """A host directory bound into a job (``[volumes.NAME]`` or a hub Station's)."""

    name: str
    host_path: str
    mount: str
    access: str = "ro"

    @property
    def read_only(self) -> bool:
        return self.access == "ro"

    @property
    def env_name(self) -> str:
        """``LZ_VOLUME_<NAME>``: where the volume is for the ``none`` runtime (no container)."""
        return f"LZ_VOLUME_{self.name.upper()}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "host_path": self.host_path, "mount": self.mount, "access": self.access}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Volume:
        return cls(str(data["name"]), str(data["host_path"]), str(data["mount"]), str(data.get("access", "ro")))


def check(volume: Volume) -> Volume:
    """The volume, or ConfigError with one line: names are identifiers, paths absolute and clean,
    the mount point outside the work directory and not a system directory."""
    where = f"volume {volume.name!r}"
    if not _NAME.match(volume.name):
        raise ConfigError(f"{where}: a name is a letter, then letters, digits or _ (at most 32)")
    if volume.access not in ACCESS:
        raise ConfigError(f"{where}: access must be ro or rw, not {volume.access!r}")
    for label, path in (("host_path", volume.host_path), ("mount", volume.mount)):
        if not path.startswith("/") or posixpath.normpath(path) != path.rstrip("/") or "\x00" in path or ":" in path or "," in path:
            raise ConfigError(f"{where}: {label} must be an absolute path without '..', ':', ',' or a trailing '/'")
    mount = volume.mount
    if mount == "/" or mount.split("/")[1] in ("proc", "sys", "dev", "etc", "bin", "sbin", "usr", "lib", "lib64"):
        raise ConfigError(f"{where}: mount point {mount} is a system directory")
    work = CONTAINER_WORKDIR.rstrip("/")
    if mount == work or mount.startswith(work + "/") or work.startswith(mount + "/"):
        raise ConfigError(f"{where}: mount point {mount} overlaps the work directory {work}: its files would "
                          "be collected as results")
    return volume


def from_config(raw: Mapping[str, Any]) -> tuple[Volume, ...]:
    """``[volumes.NAME]`` tables of the configuration file."""
    found = []
    for name, table in raw.items():
        if not isinstance(table, Mapping) or not {"host_path", "mount"} <= set(table):
            raise ConfigError(f"[volumes.{name}] needs host_path and mount (and access = \"ro\" or \"rw\")")
        unknown = set(table) - {"host_path", "mount", "access"}
        if unknown:
            raise ConfigError(f"[volumes.{name}]: unknown keys {sorted(unknown)}")
        found.append(check(Volume(str(name), str(table["host_path"]), str(table["mount"]),
                                  str(table.get("access", "ro")))))
    return tuple(found)


def hub_volume_refusal(volume: Volume, real_host_path: str, roots: tuple[str, ...],
                       protected: tuple[str, ...], shared: tuple[str, ...] = ()) -> str | None:
    """Why this landing zone will not bind a volume a hub sent, or None when it may.

    A hub (or anyone who can act as one) must not choose what a zone binds: only paths inside the
    zone's own ``hub_volume_roots`` (``PATH`` read-only, ``PATH:rw`` read-write) are bound, and
    never one that is, holds or lies in a ``protected`` folder (the zone's home, state and token
    folders), nor one that holds a ``shared`` folder (the work root: every job's work lies in it).
    ``real_host_path``: the host path with every symlink resolved, so a link cannot lead out of a
    root."""
    where = f"hub volume {volume.name!r} ({volume.host_path})"
    for folder in protected:
        if _within(real_host_path, folder) or _within(folder, real_host_path):
            return f"{where}: this landing zone never binds its home, state or token folders"
    for folder in shared:
        if _within(folder, real_host_path):
            return f"{where}: it holds this landing zone's work root {folder}"
    allowed = [(path, access) for path, _, access in (r.partition(":") for r in roots)]
    matches = [access or "ro" for path, access in allowed if path and _within(real_host_path, path.rstrip("/") or "/")]
    if not matches:
        return (f"{where}: not inside this landing zone's hub_volume_roots "
                f"({', '.join(roots) if roots else 'none are set'})")
    if volume.access == "rw" and "rw" not in matches:
        return f"{where}: this landing zone allows it read-only only (hub_volume_roots)"
    return None


def _within(path: str, folder: str) -> bool:
    return folder == "/" or path == folder or path.startswith(folder.rstrip("/") + "/")
