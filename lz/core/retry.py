"""A job's retry policy and the pure decisions about its attempts (no I/O).

``retries = N`` gives a job up to N more attempts after the first; ``retry_on`` names the causes
that earn one. A cause is what ended an attempt, in one word:

- ``node_fail``: SLURM's NODE_FAIL or BOOT_FAIL (the node died under the job, or never booted);
- ``preempted``: SLURM's PREEMPTED (a higher-priority job took the allocation);
- ``requeued``: the scheduler put a running job back in its queue (``scontrol requeue``, or a
  preemption or node failure on a site that requeues): lz ends that attempt and submits a new one;
- ``timeout``: the time limit was reached;
- ``lost``: neither the scheduler nor the disk knows the job any more;
- ``exit:CODE``: the job's command exited with CODE (``exit:any`` for every non-zero code).

A cancel, stop or kill is never retried, nor a success. Each attempt is a new submission (a new
SLURM job, named with its attempt number, so an observation of an older attempt never passes
for the current one's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lz.core.errors import BundleError
from lz.core.value_class import value_class

CAUSES = ("node_fail", "preempted", "requeued", "timeout", "lost")
"""The causes ``retry_on`` may name besides ``exit:CODE``."""
DEFAULT_RETRY_ON = ("node_fail", "preempted", "requeued", "lost")
"""Failures of the machine, not of the job: what a retry can cure."""
MAX_RETRIES = 100


@value_class
class RetryPolicy:
    """How many more attempts a job may have, and what earns one."""

    retries: int = 0
    retry_on: tuple[str, ...] = DEFAULT_RETRY_ON

    @property
    def attempts(self) -> int:
        """How many attempts the job may have in all."""
        return 1 + self.retries

    def to_dict(self) -> dict[str, Any]:
        return {"retries": self.retries, "retry_on": list(self.retry_on)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetryPolicy:
        return cls(int(data.get("retries", 0)), tuple(data.get("retry_on", DEFAULT_RETRY_ON)))


def parse_policy(retries: Any, retry_on: Any, default: RetryPolicy, where: str = "lz.toml") -> RetryPolicy:
    """The job's policy from ``retries``/``retry_on`` values (``None``: not given, the default's)."""
    if retries is None:
        count = default.retries
    elif isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise BundleError(f"{where}: `retries` must be a whole number from 0 to {MAX_RETRIES}, not {retries!r}")
    else:
        count = retries
    if retry_on is None:
        return RetryPolicy(count, default.retry_on)
    if isinstance(retry_on, str):
        retry_on = [part.strip() for part in retry_on.split(",") if part.strip()]
    if not isinstance(retry_on, list) or not all(isinstance(c, str) for c in retry_on):
        raise BundleError(f"{where}: `retry_on` must be a list such as [\"node_fail\", \"exit:75\"]")
    for cause in retry_on:
        check_cause(cause, where)
    return RetryPolicy(count, tuple(dict.fromkeys(retry_on)))


def check_cause(cause: str, where: str = "lz.toml") -> None:
    if cause in CAUSES or cause == "exit:any":
        return
    code = cause.removeprefix("exit:")
    if cause.startswith("exit:") and code.isascii() and code.isdigit() and 0 < int(code) < 256:
        return
    raise BundleError(f"{where}: retry_on {cause!r} is not one of {', '.join(CAUSES)}, exit:CODE (1-255) "
                      "or exit:any")


def cause_of(outcome: str, native_state: str | None, exit_code: int | None) -> str | None:
    """What ended an attempt, as ``retry_on`` names it; None for a success or a cancel."""
    native = (native_state or "").upper()
    if native in ("NODE_FAIL", "BOOT_FAIL"):
        return "node_fail"
    if native == "PREEMPTED":
        return "preempted"
    if outcome == "timed_out":
        return "timeout"
    if outcome == "lost":
        return "lost"
    if outcome == "failed" and exit_code:
        return f"exit:{exit_code}"
    return None


def earns_retry(policy: RetryPolicy, attempt: int, cause: str | None) -> bool:
    """Whether attempt ``attempt`` (1-based), ended by ``cause``, is followed by another."""
    if cause is None or attempt >= policy.attempts:
        return False
    return cause in policy.retry_on or (cause.startswith("exit:") and "exit:any" in policy.retry_on)


def delay_s(attempt: int, base_s: float, cap_s: float) -> float:
    """How long to wait before attempt ``attempt + 1``: doubling from ``base_s``, at most ``cap_s``."""
    return min(cap_s, base_s * 2 ** max(0, attempt - 1))


def describe(cause: str) -> str:
    """A cause in words, for reasons and ``lz status``."""
    words = {"node_fail": "node failure", "preempted": "preempted", "requeued": "requeued by the scheduler",
             "timeout": "time limit reached", "lost": "lost"}
    return words.get(cause, f"exit code {cause.removeprefix('exit:')}")


def history_line(attempts: Sequence[Mapping[str, Any]]) -> str:
    """Earlier attempts in a few words: "#1 node failure; #2 exit code 3"."""
    return "; ".join(f"#{a.get('attempt')} {a.get('reason') or describe(str(a.get('cause')))}" for a in attempts)
