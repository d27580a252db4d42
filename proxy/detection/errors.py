"""What can go wrong in detection, as the request path sees it.

Messages never quote request text: they name counts, limits and exception types only.
"""

from __future__ import annotations


class DetectionError(RuntimeError):
    """Detection could not run; the caller must fail closed (503).

    `retry_after_s`: when trying again is expected to work (no worker alive yet), else None.
    """

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DetectionOverloaded(DetectionError):
    """Refused before any work: the expected wait for a worker is too long (429)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, retry_after_s)


class WorkerLost(Exception):
    """The worker running a job ended before answering (crashed, OOM-killed, or stopped)."""


class JobFailed(Exception):
    """The analysis raised inside the worker; the job is not tried again (it would raise again)."""
