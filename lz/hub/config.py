"""The hub server's settings (pydantic): defaults, then flags of ``lz hub serve``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class HubConfig(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    db_url: str
    files_dir: Path
    lease_s: float = Field(default=30.0, gt=0)
    online_s: float = Field(default=60.0, gt=0)
    max_bundle_bytes: int = 1 << 30
    max_bundle_files: int = 100_000
    max_upload_bytes: int = 1 << 30  # a job's tarball as uploaded (compressed)
    max_results_bytes: int = 4 << 30
    max_live_log_bytes: int = 64 << 20  # per log of a running attempt
    retention_days: float = 30.0
    recheck_s: float = 0.25
    max_claim_wait_s: float = 60.0  # a long poll never holds a connection longer
    clock: Callable[[], float] = time.time
