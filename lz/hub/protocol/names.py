"""The wire's vocabulary, spelled once: the facts a landing zone reports about a job, the files an
attempt uploads, the logs a user may read, and what a pilot adds to its landing zone's facts."""

from __future__ import annotations

import re

FACTS = ("outcome", "reason", "exit_code", "executor", "executor_id", "native_state", "pending_reason",
         "started_at", "ended_at", "cpu_seconds", "max_rss_bytes")
"""A job's facts as a landing zone reports them (events and finish); the hub keeps the latest."""

LOGS = ("stdout", "stderr", "build.log")
LOG_PATTERN = "^(" + "|".join(re.escape(name) for name in LOGS) + ")$"  # a log name in a URL

RESULTS_ARCHIVE = "results.tar.gz"
MANIFEST = "manifest.json"
RESULT_FILES = (RESULTS_ARCHIVE, MANIFEST, *LOGS)
"""What an attempt's results upload may hold, and nothing else."""

PILOT_FACTS = ("pilot_group", "ends_at")
"""A pilot's SLURM job (its array's job id, else its own) and when its allocation ends; null for
other landing zones."""
