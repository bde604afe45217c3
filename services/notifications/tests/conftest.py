"""Fixtures: the notifications service on the real Kafka and PostgreSQL with private topics, a
real SMTP server (aiosmtpd) and a local HTTP receiver for the SMS gateway and webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from notifications_harness import Running, running_notifications
from signaalpunt_notifications.sinks import Sinks
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    # the partner whose endpoint is gone answers 410: a permanent failure
    running = Sinks(responder=lambda path, _h, _b: 410 if path.endswith("/gone") else 200).start()
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
    folder = tmp_path_factory.mktemp("notifications")
    async with running_notifications(infra, kafka_topics, database_url, sinks, folder) as running:
        yield running
