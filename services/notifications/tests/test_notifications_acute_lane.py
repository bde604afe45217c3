"""The acute lane on the real Kafka, PostgreSQL, SMTP server and HTTP receiver: an acute alert
is sent while every ordinary sender waits on a receiver that does not answer (issue 22: acute
work never queues behind ordinary work)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
import pytest_asyncio
from notifications_harness import (
    UNREACHABLE_PARTNER,
    Running,
    acute,
    deadline_missed,
    envelope,
    eventually,
    rejected,
    running_notifications,
)
from signaalpunt_notifications.sinks import WEBHOOK_PREFIX, Sinks
from signaalpunt_testkit.plugin import Infra, TopicFactory

ORDINARY_SENDERS = 2


class StuckReceiver:
    """A partner endpoint that takes every webhook and answers only when released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.waiting = 0
        self._lock = threading.Lock()

    def __call__(self, path: str, _headers: Any, _body: bytes) -> int:
        if path.startswith(WEBHOOK_PREFIX):
            with self._lock:
                self.waiting += 1
            self.release.wait(120)
        return 200


@pytest.fixture(scope="module")
def stuck() -> StuckReceiver:
    return StuckReceiver()


@pytest.fixture(scope="module")
def stuck_sinks(stuck: StuckReceiver) -> Iterator[Sinks]:
    running = Sinks(responder=stuck).start()
    yield running
    stuck.release.set()
    running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def notifications(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    stuck_sinks: Sinks,
    stuck: StuckReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:
    async with running_notifications(
        infra,
        kafka_topics,
        database_url,
        stuck_sinks,
        tmp_path_factory.mktemp("acute-lane"),
        sender_workers=ORDINARY_SENDERS,
        send_timeout=120,  # a receiver that hangs holds its sender as long as the test runs
    ) as running:
        yield running
        stuck.release.set()  # let the stuck senders finish before the service stops


async def _sent(notifications: Running, signal_id: UUID, count: int) -> bool:
    rows = await notifications.deliveries(signal_id=signal_id)
    return len(rows) == count and all(r["status"] == "sent" for r in rows)


async def test_a_hanging_receiver_holds_one_sender_and_an_acute_alert_none(
    notifications: Running, stuck: StuckReceiver
) -> None:
    # one partner's endpoint hangs, with more refusals for it waiting: one sender is in its
    # webhook; the others skip that partner's messages instead of queueing behind its lock
    for _ in range(3):
        await notifications.publish(envelope(rejected()))
    await eventually(lambda: stuck.waiting == 1, what="a sender in the hanging webhook")
    missed = uuid4()
    await notifications.publish(envelope(deadline_missed(missed)))
    await eventually(
        lambda: _sent(notifications, missed, 1), what="the coordinator's mail sent meanwhile"
    )

    # a second hanging partner: now every ordinary sender waits; an acute alert still goes
    for _ in range(3):
        await notifications.publish(
            envelope(rejected(partner=UNREACHABLE_PARTNER), municipality="GM0687")
        )
    await eventually(
        lambda: stuck.waiting >= ORDINARY_SENDERS, what="every ordinary sender in a webhook"
    )
    signal_id = uuid4()
    await notifications.publish(envelope(acute(signal_id, uuid4())))
    await eventually(
        lambda: _sent(notifications, signal_id, 2), what="the acute e-mail and SMS sent"
    )
    assert not stuck.release.is_set()
    backlog = await notifications.deliveries(template="partner_refusal")
    assert sum(r["status"] == "pending" for r in backlog) >= 4  # still behind the hanging ones
