"""The organisation's response deadline in working days (pure).

A working day is Monday to Friday that is not a Dutch public holiday (the `holidays` library).
"N working days" is the end of the N-th working day after the day the referral was sent, at
`day_ends` local time: sent on Friday, two working days, answer by Tuesday 17:00; sent the day
before Christmas, the holidays do not count.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@cache
def _dutch_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("NL", years=year).keys())


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _dutch_holidays(day.year)


def respond_by(
    sent_at: datetime,
    working_days: int,
    *,
    day_ends: time = time(17, 0),
    zone: ZoneInfo = AMSTERDAM,
) -> datetime:
    if working_days < 1:
        raise ValueError("a response deadline is at least one working day")
    day = sent_at.astimezone(zone).date()
    counted = 0
    while counted < working_days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return datetime.combine(day, day_ends, tzinfo=zone)
