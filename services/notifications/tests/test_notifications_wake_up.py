"""A planned message goes out without waiting for the sender's next poll (issue 22: "send
without a polling delay"): the planning transaction's NOTIFY wakes the senders. With a poll
interval of a minute, a message planned after the senders fell asleep is sent long before their
next poll; before, it waited for it."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterator
from uuid import UUID, uuid4

import pytest
import pytest_asyncio
from notifications_harness import (
    Running,
    deadline_missed,
    envelope,
    eventually,
    running_notifications,
)
from signaalpunt_notifications.sinks import Sinks
from signaalpunt_testkit.plugin import Infra, TopicFactory

POLL = 60.0  # the senders' poll: longer than the test waits for the message


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    running = Sinks().start()
    yield running
    running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def notifications(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    sinks: Sinks,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:
    async with running_notifications(
        infra,
        kafka_topics,
        database_url,
        sinks,
        tmp_path_factory.mktemp("wake-up"),
        sender_poll_interval=POLL,
    ) as running:
        yield running


async def _sent(notifications: Running, signal_id: UUID) -> bool:
    rows = await notifications.deliveries(signal_id=signal_id)
    return len(rows) == 1 and rows[0]["status"] == "sent"


async def test_a_planned_message_is_sent_without_waiting_for_the_poll(
    notifications: Running,
) -> None:
    await asyncio.sleep(2)  # every sender has polled once, found nothing and sleeps for POLL
    for _ in range(2):  # and again after the first wake-up, once the senders slept again
        missed = uuid4()
        await notifications.publish(envelope(deadline_missed(missed)))
        await eventually(
            functools.partial(_sent, notifications, missed),
            what="the coordinator's mail sent before the senders' next poll",
            timeout=POLL / 2,
        )
