"""First-contact deadlines: clock hours for acute signals, working days for the rest.

A working day is Monday to Friday that is not a Dutch public holiday (the `holidays` library:
New Year, Easter, King's Day, Ascension, Whitsun, Christmas, and Liberation Day in the years it is
a day off) nor a closed day the municipality configured. "N working days" means: the end of the
N-th working day after the day the signal came in (at `working_day_ends`, local time). A signal on
Friday at 16:00 with one working day is due Monday at 17:00; one on King's Day counts from the
next working day. Hours are plain clock hours (acute signals are handled day and night).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from signaalpunt_contracts import Priority


@dataclass(frozen=True)
class DeadlineRule:
    hours: int | None = None
    working_days: int | None = None


@cache
def _dutch_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("NL", years=year).keys())


@dataclass(frozen=True)
class DeadlinePolicy:
    rules: Mapping[Priority, DeadlineRule]
    zone: ZoneInfo
    working_day_ends: time
    closed_days: frozenset[date]

    @classmethod
    def create(
        cls,
        *,
        rules: Mapping[Priority, DeadlineRule],
        timezone: str,
        working_day_ends: time,
        closed_days: tuple[str, ...] = (),
    ) -> DeadlinePolicy:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {timezone!r}") from exc
        try:
            closed = frozenset(date.fromisoformat(d) for d in closed_days)
        except ValueError as exc:
            raise ValueError(f"closed_days: {exc}") from exc
        return cls(
            rules=dict(rules), zone=zone, working_day_ends=working_day_ends, closed_days=closed
        )

    def is_working_day(self, day: date) -> bool:
        return (
            day.weekday() < 5
            and day not in _dutch_holidays(day.year)
            and day not in self.closed_days
        )

    def due(self, priority: Priority, received_at: datetime) -> datetime:
        """When first contact must have happened for a signal of `priority` received then."""
        rule = self.rules[priority]
        if rule.hours is not None:
            return received_at + timedelta(hours=rule.hours)
        assert rule.working_days is not None
        day = received_at.astimezone(self.zone).date()
        counted = 0
        while counted < rule.working_days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return datetime.combine(day, self.working_day_ends, tzinfo=self.zone)
