"""systemd units for the gateway (``lz run``) and the hub (``lz hub serve``), as text (pure).

Stopping: ``KillMode=mixed`` sends SIGTERM to the main process only, so the daemon stops taking
work and lets running steps finish; after ``stop_grace_s`` it exits by itself, still holding its
lock. ``TimeoutStopSec`` leaves a margin above that grace before systemd SIGKILLs what is left of
the cgroup (a build's process group): every step is crash-safe, so that is the SIGKILL case the
daemon already survives. ``ExecReload`` sends SIGHUP, which reopens the log file (logrotate).

Hardening: only options that neither imply ``NoNewPrivileges=`` for a non-root service (systemd
sets it for ``ProtectKernel*``, ``PrivateDevices``, ``SystemCallFilter``, ``RestrictNamespaces``,
``RestrictSUIDSGID``, ``LockPersonality``, ``MemoryDenyWriteExecute``, ``ProtectClock`` ...) nor
hide what jobs need: Apptainer's setuid starter and ``newuidmap`` need set-uid to work, Charliecloud
and unprivileged Apptainer need user namespaces, ``sbatch`` needs munge's socket under ``/run``,
the work root (``/tmp``, ``/home``, ``/scratch``) must be the one the CLI and compute nodes see,
and GPUs are devices. See ``HARDENING`` for the options chosen and the reason for each.
"""

from __future__ import annotations

from dataclasses import dataclass

STOP_MARGIN_S = 30.0
"""Seconds between the daemon's own drain deadline and systemd's SIGKILL."""

HARDENING: list[tuple[str, str]] = [
    ("ProtectSystem=full", "/usr, /boot, /efi and /etc read-only; /var, /srv, /home, /tmp stay writable "
                           "(state, spool, work roots)"),
    ("ProtectControlGroups=yes", "the cgroup tree is read-only: lz never writes it (Slurm does, on the nodes)"),
    ("ProtectHostname=yes", "lz never changes the host name"),
    ("UMask=0077", "files lz writes are private (group_access = true widens this in lz itself)"),
    ("LimitCORE=0", "a crash leaves no core file holding job environments"),
    ("PrivateTmp=no", "the work root defaults to /tmp and must be the /tmp that lz submit and jobs see"),
    ("ProtectHome=no", "work roots and job folders often live under /home on clusters"),
    ("NoNewPrivileges=no", "Apptainer's setuid starter and newuidmap/newgidmap must gain privileges"),
]
"""(option, why). Deliberately left out: PrivateDevices (GPUs), RestrictNamespaces (containers),
CapabilityBoundingSet (the setuid starter), SystemCallFilter and the ProtectKernel*/ProtectClock/
RestrictSUIDSGID family (each implies NoNewPrivileges for a non-root service)."""


@dataclass(frozen=True)
class Unit:
    """One unit file and the environment file it reads."""

    name: str  # e.g. lz.service
    text: str
    env_name: str  # e.g. lz.env
    env_text: str


def gateway_unit(exec_path: str, *, user_mode: bool, account: str = "lz", stop_grace_s: float = 60.0,
                 env_dir: str = "/etc/lz") -> Unit:
    """``lz run`` as a service; ``LZ_RUN_ARGS`` in the environment file adds flags."""
    env_file = f"{env_dir}/lz.env"
    text = _unit(
        description="lz landing zone (gateway: lz run)",
        exec_start=f"{exec_path} run $LZ_RUN_ARGS",
        env_file=env_file, user_mode=user_mode, account=account, stop_grace_s=stop_grace_s,
        after=("network-online.target", "munge.service", "remote-fs.target"),
        reload=True,
    )
    env = _env_header("lz run") + (
        "# flags for lz run (split on spaces), e.g. metrics and a log file rotated by logrotate:\n"
        "#LZ_RUN_ARGS=--metrics 127.0.0.1:9750 --log /var/log/lz/lz.log\n"
        "LZ_RUN_ARGS=\n"
        "# settings (each also has a key in config.toml; lz config show says where a value came from):\n"
        "#LZ_CONTAINER=slurm\n#LZ_NAME=galileo\n#LZ_WORKDIR=/scratch/lz\n"
        "# sbatch, squeue and the container runtime are looked up on this PATH:\n"
        "PATH=/usr/local/bin:/usr/bin:/bin\n"
    )
    return Unit("lz.service", text, "lz.env", env)


def hub_unit(exec_path: str, *, user_mode: bool, account: str = "lz", stop_grace_s: float = 60.0,
             env_dir: str = "/etc/lz") -> Unit:
    """``lz hub serve [--listen HOST:PORT] [--db URL]`` as a service; ``LZ_HUB_ARGS`` adds flags."""
    env_file = f"{env_dir}/hub.env"
    text = _unit(
        description="lz hub (stations and landing zones: lz hub serve)",
        exec_start=f"{exec_path} hub serve $LZ_HUB_ARGS",
        env_file=env_file, user_mode=user_mode, account=account, stop_grace_s=stop_grace_s,
        after=("network-online.target", "postgresql.service"),
        reload=False,
    )
    env = _env_header("lz hub serve") + (
        "# where the hub listens and its database (default: SQLite under $XDG_STATE_HOME/lz/hub/):\n"
        "#LZ_HUB_ARGS=--listen 0.0.0.0:8750 --db postgresql+psycopg://lz@localhost/lz --metrics 127.0.0.1:9751\n"
        "LZ_HUB_ARGS=\n"
    )
    return Unit("lz-hub.service", text, "hub.env", env)


def _env_header(what: str) -> str:
    return f"# Environment of the {what} service (systemd EnvironmentFile: KEY=value, no shell).\n"


def _unit(*, description: str, exec_start: str, env_file: str, user_mode: bool, account: str,
          stop_grace_s: float, after: tuple[str, ...], reload: bool) -> str:
    unit = ["[Unit]", f"Description={description}"]
    if not user_mode:
        unit += [f"After={' '.join(after)}", "Wants=network-online.target"]
    service = ["", "[Service]", "Type=simple"]
    if not user_mode:
        # The state lands in /var/lib/lz and the configuration in /etc/lz (the XDG defaults of the
        # account would be its home); a user unit keeps the user's own XDG directories.
        service += [f"User={account}", f"Group={account}", "StateDirectory=lz", "StateDirectoryMode=0700", "LogsDirectory=lz", "LogsDirectoryMode=0700",
                    "Environment=XDG_STATE_HOME=/var/lib XDG_CONFIG_HOME=/etc"]
    service += [
        f"EnvironmentFile=-{env_file}",
        f"ExecStart={exec_start}",
    ]
    if reload:
        service.append("ExecReload=/bin/kill -HUP $MAINPID")
    service += [
        "Restart=on-failure",
        "RestartSec=5",
        "KillMode=mixed",
        "KillSignal=SIGTERM",
        f"TimeoutStopSec={int(stop_grace_s + STOP_MARGIN_S)}",
    ]
    if not user_mode:
        # A user manager can only sandbox through a user namespace (PrivateUsers), which would break
        # munge's uid check and set-uid runtimes: user units get no sandboxing options.
        service += [option for option, _ in HARDENING]
    else:
        service += ["UMask=0077"]
    install = ["", "[Install]", f"WantedBy={'default.target' if user_mode else 'multi-user.target'}"]
    return "\n".join(unit + service + install) + "\n"
