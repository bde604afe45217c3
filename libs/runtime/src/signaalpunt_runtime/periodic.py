"""A job a service runs every so often beside its consumers: the retention of tombstones, of the
access log. The first round runs at start. A round that fails (the database is down) is tried
again the next round, with one log line when it starts failing and one when it works again
(`FailureLog`), not a traceback every round.

    class Pruner(PeriodicJob):
        async def run(self, now: datetime | None = None) -> int: ...

    job = Pruner("access log retention", interval=3600)
    service.also_start(job.start, job.stop)
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from signaalpunt_runtime.failure_log import FailureLog


class PeriodicJob:
    def __init__(self, name: str, *, interval: float) -> None:
        self.name = name
        self.interval = interval
        self._failures = FailureLog(name)
        self._task: asyncio.Task[None] | None = None

    async def run(self, now: datetime | None = None) -> int:
        """One round; what it did (how many rows it removed)."""
        raise NotImplementedError

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run()
            except Exception as exc:
                self._failures.failed(exc)
            else:
                self._failures.worked()
            await asyncio.sleep(self.interval)
