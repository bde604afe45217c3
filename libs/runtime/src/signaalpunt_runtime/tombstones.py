"""Retention of erasure tombstones: the ids of erased signals a service keeps so that an event
about the signal arriving after its erasure (the topics are not ordered among each other) is not
stored again. A tombstone holds an id and a time, nothing about the person, but it still says
"this signal was erased": it is kept as long as intake keeps its erasure records (730 days by
default, `erasure_record_days`), far beyond any topic's retention, and then deleted.

    pruner = TombstonePruner(lambda: service.pool, retention_days=settings.erasure_record_days)
    service.also_start(pruner.start, pruner.stop)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import Field

from signaalpunt_runtime.database import DbConnection
from signaalpunt_runtime.logs import get_logger
from signaalpunt_runtime.periodic import PeriodicJob

log = get_logger(__name__)

DEFAULT_DAYS = 730
"""As intake's erasure records (`IntakeSettings.erasure_record_days`)."""
MIN_DAYS = 180
"""Longer than any topic keeps an event (the longest, the dead-letter topics, keep 28 days)."""


def erasure_record_days_field() -> Any:
    """The `erasure_record_days` setting of a service that keeps tombstones of erased signals."""
    return Field(
        default=DEFAULT_DAYS,
        ge=MIN_DAYS,
        description="days a tombstone of an erased signal (its id and when) is kept, as long as "
        "intake keeps the erasure's record",
    )


@dataclass(frozen=True)
class Tombstones:
    """Where a service keeps its tombstones: the table, the column with when, and which rows
    are tombstones (notifications keeps them as an erased signal's empty facts)."""

    table: str = "erased_signals"
    at: str = "erased_at"
    which: str = "true"


ERASED_SIGNALS = Tombstones()


async def prune(conn: DbConnection, before: datetime, where: Tombstones = ERASED_SIGNALS) -> int:
    """Delete the tombstones written before `before`; how many."""
    status = await conn.execute(
        f"DELETE FROM {where.table} WHERE {where.at} < $1 AND ({where.which})",  # noqa: S608 - constants of the caller
        before,
    )
    return int(status.split()[-1])


class TombstonePruner(PeriodicJob):
    """Applies the tombstones' retention every `interval` seconds (the first run at start)."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        *,
        retention_days: int = DEFAULT_DAYS,
        interval: float = 3600,
        where: Tombstones = ERASED_SIGNALS,
    ) -> None:
        if retention_days < MIN_DAYS:
            raise ValueError(f"tombstones are kept at least {MIN_DAYS} days")
        super().__init__("tombstone retention", interval=interval)
        self._pool, self.retention = pool, timedelta(days=retention_days)
        self.where = where

    async def run(self, now: datetime | None = None) -> int:
        at = now or datetime.now(UTC)
        async with self._pool().acquire() as conn:
            removed = await prune(conn, at - self.retention, self.where)
        if removed:
            log.info("tombstone retention", removed=removed)
        return removed
