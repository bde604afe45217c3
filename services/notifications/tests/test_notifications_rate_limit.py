"""The rate limit over time (issue 22), on the real Kafka, PostgreSQL and SMTP server: it counts a
recipient's messages per minute, so asking costs one row per minute of the window however many
messages a team mailbox gets; what is held back goes out once the minute holding the oldest
counted message has left the window, and counts no window reaches are dropped."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
from notifications_harness import Running, deadline_missed, envelope, eventually
from signaalpunt_notifications import repository
from signaalpunt_notifications.domain import RateLimit

COORDINATOR = "coordinator:GM0718"


async def _publish(notifications: Running, how_many: int) -> list[UUID]:
    signals = [uuid4() for _ in range(how_many)]
    for signal_id in signals:
        await notifications.publish(envelope(deadline_missed(signal_id), municipality="GM0718"))

    async def planned() -> bool:
        rows = await notifications.deliveries(recipient=COORDINATOR)
        return {r["signal_id"] for r in rows} >= set(signals)

    await eventually(planned, what=f"{how_many} messages planned")
    return signals


async def _of(notifications: Running, signals: list[UUID]) -> list[dict[str, object]]:
    rows = await notifications.deliveries(recipient=COORDINATOR)
    return sorted(
        (r for r in rows if r["signal_id"] in signals),
        key=lambda r: (r["created_at"], r["delivery_id"]),
    )


async def test_held_back_until_the_minute_of_the_oldest_counted_message_leaves_the_window(
    notifications: Running,
) -> None:
    sender = notifications.notifications.sender
    await sender.stop()  # the test drives the rounds, each at a moment it chooses
    original = sender.policies
    sender.policies = replace(original, rate_limit=RateLimit(3, timedelta(hours=1)))
    # days ahead: no other test's messages to this coordinator are in this window
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=3)
    first_minute = now.replace(hour=10, minute=0)
    try:
        morning = await _publish(notifications, 2)
        notifications.clock.set(first_minute + timedelta(seconds=30))
        assert await sender.send_due() == 2
        later = await _publish(notifications, 2)
        notifications.clock.set(first_minute + timedelta(minutes=30))
        assert await sender.send_due() == 2

        rows = await _of(notifications, later)
        # the third of three in the hour went out; the fourth waits for the 10:00 minute to
        # leave the window: at 11:01 at the latest, a whole minute counted (never sooner)
        assert [r["status"] for r in rows] == ["sent", "pending"]
        assert rows[1]["queued_reason"] == "rate_limit"
        assert rows[1]["next_attempt_at"] == first_minute + timedelta(hours=1, minutes=1)

        notifications.clock.set(first_minute + timedelta(hours=1, seconds=59))
        assert await sender.send_due() == 0  # not yet due
        notifications.clock.set(first_minute + timedelta(hours=1, minutes=1))
        assert await sender.send_due() == 1
        assert [r["status"] for r in await _of(notifications, later)] == ["sent", "sent"]
        assert all(r["status"] == "sent" for r in await _of(notifications, morning))
    finally:
        sender.policies = original
        notifications.clock.reset()

    conn = await asyncpg.connect(
        notifications.database_url, server_settings={"search_path": "notifications"}
    )
    try:
        counted = await conn.fetch(
            "SELECT minute, sent FROM sends_per_minute WHERE recipient = $1 AND minute >= $2"
            " ORDER BY minute",
            COORDINATOR,
            first_minute,
        )
        assert [(r["minute"], r["sent"]) for r in counted] == [
            (first_minute, 2),
            (first_minute + timedelta(minutes=30), 1),
            (first_minute + timedelta(hours=1, minutes=1), 1),
        ]
        # at 11:31 a window of an hour reaches back to 10:31: the first two minutes go
        window_start = first_minute + timedelta(minutes=31)
        assert await repository.forget_sends_before(conn, window_start) >= 2
        left = await conn.fetch(
            "SELECT minute FROM sends_per_minute WHERE recipient = $1 AND minute >= $2",
            COORDINATOR,
            first_minute,
        )
        assert [r["minute"] for r in left] == [first_minute + timedelta(hours=1, minutes=1)]
    finally:
        await conn.close()
