"""First-contact deadlines in working days across weekends and Dutch public holidays."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from signaalpunt_contracts import Cue, Priority
from signaalpunt_triage.deadlines import DeadlinePolicy
from signaalpunt_triage.rules import Rulebook

AMS = ZoneInfo("Europe/Amsterdam")
RULES = Path(__file__).resolve().parents[1] / "src" / "signaalpunt_triage" / "rules"
BOOK = Rulebook.load(RULES, {c.value for c in Cue})
MIDDELBURG = BOOK.for_municipality("GM0687").deadlines  # the default rules
TERNEUZEN = BOOK.for_municipality("GM0715").deadlines  # normal: 2 working days, 24 Dec closed


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


@pytest.mark.parametrize(
    ("label", "policy", "priority", "received", "due"),
    [
        (
            "monday normal: thursday",
            MIDDELBURG,
            Priority.NORMAL,
            at(2026, 11, 23, 9, 14),
            at(2026, 11, 26, 17),
        ),
        (
            "monday high: tuesday",
            MIDDELBURG,
            Priority.HIGH,
            at(2026, 11, 23, 9, 14),
            at(2026, 11, 24, 17),
        ),
        (
            "friday afternoon high: monday",
            MIDDELBURG,
            Priority.HIGH,
            at(2026, 11, 27, 16),
            at(2026, 11, 30, 17),
        ),
        (
            "saturday high: monday",
            MIDDELBURG,
            Priority.HIGH,
            at(2026, 11, 28, 11),
            at(2026, 11, 30, 17),
        ),
        (
            "sunday low: next friday",
            MIDDELBURG,
            Priority.LOW,
            at(2026, 11, 29, 20),
            at(2026, 12, 4, 17),
        ),
        (
            "late evening counts as that day",
            MIDDELBURG,
            Priority.HIGH,
            at(2026, 11, 23, 23, 50),
            at(2026, 11, 24, 17),
        ),
        # King's Day 2027 is Tuesday 27 April
        ("before King's Day", MIDDELBURG, Priority.HIGH, at(2027, 4, 26, 10), at(2027, 4, 28, 17)),
        (
            "across King's Day, normal",
            MIDDELBURG,
            Priority.NORMAL,
            at(2027, 4, 26, 10),
            at(2027, 4, 30, 17),
        ),
        ("on King's Day", MIDDELBURG, Priority.HIGH, at(2027, 4, 27, 10), at(2027, 4, 28, 17)),
        # Christmas 2026: Friday 25 and Saturday 26 December
        (
            "christmas eve high",
            MIDDELBURG,
            Priority.HIGH,
            at(2026, 12, 24, 10),
            at(2026, 12, 28, 17),
        ),
        (
            "before christmas, high",
            MIDDELBURG,
            Priority.HIGH,
            at(2026, 12, 23, 10),
            at(2026, 12, 24, 17),
        ),
        (
            "Terneuzen is closed on christmas eve",
            TERNEUZEN,
            Priority.HIGH,
            at(2026, 12, 23, 10),
            at(2026, 12, 28, 17),
        ),
        (
            "Terneuzen normal is two working days",
            TERNEUZEN,
            Priority.NORMAL,
            at(2026, 11, 23, 9),
            at(2026, 11, 25, 17),
        ),
        ("new year", MIDDELBURG, Priority.HIGH, at(2026, 12, 31, 12), at(2027, 1, 4, 17)),
        # Easter Monday 2027 is 29 March
        (
            "across Easter Monday",
            MIDDELBURG,
            Priority.HIGH,
            at(2027, 3, 26, 12),
            at(2027, 3, 30, 17),
        ),
        ("Easter Monday, low", MIDDELBURG, Priority.LOW, at(2027, 3, 29, 9), at(2027, 4, 5, 17)),
        # acute: clock hours, day and night, also across the end of summer time
        (
            "acute saturday night",
            MIDDELBURG,
            Priority.ACUTE,
            at(2026, 11, 28, 23, 30),
            at(2026, 11, 29, 0, 30),
        ),
        (
            "acute on christmas day",
            MIDDELBURG,
            Priority.ACUTE,
            at(2026, 12, 25, 3),
            at(2026, 12, 25, 4),
        ),
    ],
)
def test_due(
    label: str, policy: DeadlinePolicy, priority: Priority, received: datetime, due: datetime
) -> None:
    assert policy.due(priority, received) == due, label


def test_acute_is_one_real_hour_across_the_clock_change() -> None:
    received = datetime.fromisoformat("2026-10-25T02:30:00+02:00")  # CEST, before 03:00 → 02:00
    due = MIDDELBURG.due(Priority.ACUTE, received)
    assert (due - received).total_seconds() == 3600
    assert due.astimezone(AMS).utcoffset().total_seconds() == 3600  # type: ignore[union-attr]
