"""Quiet logs for a background loop that fails (issue 14: one line per state change).

A loop that polls the database (a sender, a webhook round, a refresh) fails on every round while
PostgreSQL is down; a traceback per round buried everything else (the notifications sender wrote
~150 error lines with tracebacks in an 8 s outage). `FailureLog` writes one line when the loop
starts failing (with the traceback only when the error is not a dependency being down, which is
expected and needs no stack), one summary per `SUMMARY_INTERVAL` while it lasts, and one line when
the loop works again.
"""

from __future__ import annotations

import time
from typing import Any

from .failures import Failure, classify, error_name
from .logs import get_logger
from .pausing import SUMMARY_INTERVAL

log = get_logger(__name__)


class FailureLog:
    def __init__(self, what: str, **context: Any) -> None:
        """`what` names the loop in the lines ("notifications sender"); `context` is added to
        each line (ids and names only: no personal data)."""
        self._what = what
        self._context = context
        self._failing_since: float | None = None
        self._next_summary = 0.0
        self._failures = 0

    @property
    def failing(self) -> bool:
        return self._failing_since is not None

    def failed(self, exc: BaseException) -> None:
        """Call from the loop's `except Exception` (never for a cancellation)."""
        self._failures += 1
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since, self._next_summary = now, now + SUMMARY_INTERVAL
            if classify(exc) is Failure.DEPENDENCY:
                log.warning(
                    f"{self._what} failing; retrying", error=error_name(exc), **self._context
                )
            else:
                log.error(
                    f"{self._what} failing; retrying",
                    error=error_name(exc),
                    exc_info=exc,
                    **self._context,
                )
        elif now >= self._next_summary:
            self._next_summary = now + SUMMARY_INTERVAL
            log.warning(
                f"{self._what} still failing",
                error=error_name(exc),
                failing_seconds=round(now - self._failing_since, 1),
                attempts=self._failures,
                **self._context,
            )

    def worked(self) -> None:
        """Call after a round that succeeded: one line if it was failing."""
        if self._failing_since is None:
            return
        log.warning(
            f"{self._what} running again",
            failed_seconds=round(time.monotonic() - self._failing_since, 1),
            attempts=self._failures,
            **self._context,
        )
        self._failing_since, self._failures = None, 0
