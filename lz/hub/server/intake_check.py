"""The hub's intake of an uploaded job: the same checks as a local ``lz submit`` (one code path,
``lz.intake.bundle.stage_bundle`` and ``lz.intake.spec_file.load_spec``), run on a private scratch copy that is
removed afterwards. The landing zone that claims the job runs its own intake again."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from lz.core.errors import UserError
from lz.core.resources import Limits, Resources
from lz.hub.server.errors import Invalid
from lz.hub.server.storage import Store
from lz.intake.bundle import IntakeLimits, stage_upload
from lz.intake.spec_file import load_spec


def check_upload(store: Store, tarball: str, scratch: Path, *, name: str | None, overrides: Mapping[str, Any],
                 limits: IntakeLimits, resource_limits: Limits | None = None,
                 defaults: Resources | None = None) -> dict[str, Any]:
    """The job's spec as a dict, or ``Invalid`` with the one-line reason intake gave. ``tarball``
    is the upload's name in the store, read as a stream; ``scratch`` is a local path in a private
    directory of its own (named like the job folder: the default name); that directory is
    removed afterwards."""
    try:
        with store.open(tarball) as stream:
            stage_upload(stream, scratch, limits, label="upload", durable=False)  # removed below: no fsync
        spec = load_spec(scratch, name=name, overrides=overrides, limits=resource_limits,
                         require_command=False, defaults=defaults)
    except UserError as exc:
        raise Invalid(" ".join(str(exc).replace(PurePosixPath(tarball).name, "upload").split())) from None
    finally:
        shutil.rmtree(scratch.parent, ignore_errors=True)
    return spec.to_dict()
