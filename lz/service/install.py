"""Where ``lz service install`` puts the units and their environment files, and writing them.

An environment file that exists is never overwritten (it holds the site's settings); a unit file
is (it is generated). Nothing here calls ``systemctl``: the command prints what to run next, so it
works the same in a container without systemd and on a node where the admin reviews first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lz.host.fs import write_atomically
from lz.service.units import Unit, gateway_unit, hub_unit


@dataclass(frozen=True)
class Placement:
    unit_dir: Path
    env_dir: Path
    user_mode: bool

    @classmethod
    def for_mode(cls, user_mode: bool, root: Path = Path("/"), environ: os._Environ[str] | dict[str, str] = os.environ
                 ) -> Placement:
        """System: /etc/systemd/system and /etc/lz; user: ~/.config/systemd/user and ~/.config/lz."""
        if not user_mode:
            return cls(root / "etc/systemd/system", root / "etc/lz", False)
        config = Path(environ.get("XDG_CONFIG_HOME") or Path(environ.get("HOME") or Path.home()) / ".config")
        return cls(root / str(config).lstrip("/") / "systemd/user", root / str(config).lstrip("/") / "lz", True)


def units(exec_path: str, placement: Placement, *, hub: bool, account: str, stop_grace_s: float,
          env_dir: Path | None = None) -> list[Unit]:
    """The gateway's unit, or the hub's with ``hub``. ``env_dir``: the path the unit names (the
    real one when ``placement`` is under a staging root)."""
    make = hub_unit if hub else gateway_unit
    return [make(exec_path, user_mode=placement.user_mode, account=account, stop_grace_s=stop_grace_s,
                 env_dir=str(env_dir or placement.env_dir))]


def write(units_: list[Unit], placement: Placement) -> list[Path]:
    """Write unit files (0644) and missing environment files (0600: they may hold secrets)."""
    written: list[Path] = []
    placement.unit_dir.mkdir(parents=True, exist_ok=True)
    placement.env_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for unit in units_:
        path = placement.unit_dir / unit.name
        _replace(path, unit.text, 0o644)
        written.append(path)
        env = placement.env_dir / unit.env_name
        if not env.exists():
            _replace(env, unit.env_text, 0o600)
            written.append(env)
    return written


def next_steps(units_: list[Unit], user_mode: bool) -> list[str]:
    systemctl = "systemctl --user" if user_mode else "systemctl"
    names = " ".join(u.name for u in units_)
    lines = [f"{systemctl} daemon-reload", f"{systemctl} enable --now {names}"]
    if user_mode:
        lines.append("loginctl enable-linger $USER   # keep it running after you log out")
    return lines


def _replace(path: Path, text: str, mode: int) -> None:
    """Exactly ``mode``: systemd reads the unit whatever umask the installer ran with."""
    write_atomically(path, text, mode, exact_mode=True)
