"""Where a job's files live (pure path arithmetic, no I/O).

Every path a job ever touches is under one directory named ``<prefix><job id>`` in the work root,
so cleanup is one ``rmtree`` and "nothing left behind" is one ``glob``.
"""

from __future__ import annotations

from pathlib import Path

from lz.core.value_class import value_class

CONTAINER_WORKDIR = "/lz/work"
"""Where the job's work directory is bound inside a container (also its working directory)."""


@value_class
class JobPaths:
    """The directories and files of one job under the work root."""

    root: Path

    @classmethod
    def under(cls, work_root: Path, job_id: str, prefix: str = "lz-") -> JobPaths:
        return cls(Path(work_root) / f"{prefix}{job_id}")

    @property
    def work(self) -> Path:
        """The job's own files: staged from the spool, bound into the container, collected."""
        return self.root / "work"

    @property
    def meta(self) -> Path:
        """lz's bookkeeping for the job: scripts, exit status, logs, manifest. Never collected as results."""
        return self.root / "lz"

    @property
    def runtime(self) -> Path:
        """The runtime's image, sandbox and build storage for this job only."""
        return self.root / "runtime"

    @property
    def exit_file(self) -> Path:
        return self.meta / "exit"

    @property
    def pid_file(self) -> Path:
        return self.meta / "pid"

    @property
    def stdout(self) -> Path:
        return self.meta / "stdout"

    @property
    def stderr(self) -> Path:
        return self.meta / "stderr"

    @property
    def build_log(self) -> Path:
        return self.meta / "build.log"

    @property
    def manifest(self) -> Path:
        """The snapshot of the work directory taken after the build, before the job runs."""
        return self.manifest_for("")

    def manifest_for(self, tree: str) -> Path:
        """The snapshot of one writable tree: ``""`` is the work directory, any other name a tree
        the runtime lets the job write (a writable container), under that result prefix."""
        return self.meta / ("manifest-before.json" if not tree else f"manifest-{tree}.json")
