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
from dataclasses import dataclass
from typing import Any

from lz.core.errors import ConfigError
from lz.core.layout import CONTAINER_WORKDIR

ACCESS = ("ro", "rw")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


@dataclass(frozen=True)
class Volume:
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
