"""The sender takes due messages in batches (issue 22), on the real Kafka, PostgreSQL, SMTP server
and HTTP receiver: one round claims, sends and records a whole batch, and within it the rate limit
counts the batch's own messages, and a partner whose endpoint fails keeps its later messages for
the next round (its messages go one at a time, in order) without holding anyone else's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest
from notifications_harness import (
    PARTNER_URN,
    Running,
    deadline_missed,
    envelope,
    eventually,
    outcomes,
    rejected,
)
from signaalpunt_notifications.domain import RateLimit
from signaalpunt_notifications.sinks import Sinks


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    """The receivers of this module's service (conftest's `notifications`): this partner's
    endpoint is down for now, a transient failure, retried later."""
    running = Sinks(responder=lambda path, _h, _b: 503 if path.endswith("/huisartsen") else 200)
    yield running.start()
    running.stop()


async def test_one_round_sends_a_batch_within_the_rate_limit_and_a_failing_partner_waits(
    notifications: Running, sinks: Sinks
) -> None:
    sender = notifications.notifications.sender
    await sender.stop()  # the messages wait until this test sends them, in one round
    original = sender.policies
    sender.policies = replace(original, rate_limit=RateLimit(3, timedelta(hours=1)))
    try:
        for _ in range(5):  # five missed deadlines for one coordinator: three fit the limit
            await notifications.publish(envelope(deadline_missed(uuid4()), municipality="GM0718"))
        await notifications.publish(envelope(deadline_missed(uuid4()), municipality="GM0687"))
        for _ in range(2):  # two refusals for a partner whose endpoint is down
            await notifications.publish(envelope(rejected(PARTNER_URN)))

        async def planned() -> bool:
            return len(await notifications.deliveries()) == 8

        await eventually(planned, what="eight messages planned")
        mails_before = len(sinks.received.mails)

        assert await sender.send_due() == 8
    finally:
        sender.policies = original
    # (the sender's workers stay stopped: what this round left pending stays as it left it)

    # in the order they were planned (delivery ids are time-ordered uuid7s)
    coordinator = sorted(
        await notifications.deliveries(recipient="coordinator:GM0718"),
        key=lambda r: (r["created_at"], r["delivery_id"]),
    )
    # the first three in line went out; the rest waits for the window, told once as queued
    assert [r["status"] for r in coordinator] == ["sent"] * 3 + ["pending"] * 2
    assert [r["queued_reason"] for r in coordinator[3:]] == ["rate_limit"] * 2
    (other,) = await notifications.deliveries(recipient="coordinator:GM0687")
    assert other["status"] == "sent"  # another recipient in the same round
    assert len(sinks.received.mails) - mails_before == 4

    first, second = sorted(
        await notifications.deliveries(template="partner_refusal"),
        key=lambda r: (r["created_at"], r["delivery_id"]),
    )
    # the first refusal was tried and will be retried; the second was not tried behind it
    assert (first["status"], first["attempts"]) == ("pending", 1)
    assert first["last_error"] is not None
    assert (second["status"], second["attempts"], second["last_error"]) == ("pending", 0, None)
    assert len(sinks.received.refused) == 1

    # every outcome is told on notifications.v1, committed with the round
    ids = {r["delivery_id"]: r for r in [*coordinator, other]}

    async def told() -> bool:
        statuses = {
            (o.data.notification_id, o.data.status.value)
            for o in await outcomes(notifications)
            if o.data.notification_id in ids
        }
        expected = {(i, "sent") for i, r in ids.items() if r["status"] == "sent"}
        expected |= {(i, "queued") for i, r in ids.items() if r["status"] == "pending"}
        return statuses == expected

    await eventually(told, what="four sent and two queued events")
