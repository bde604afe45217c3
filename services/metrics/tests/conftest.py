"""Fixtures: the metrics service on private topics and a private database of the real Kafka and
PostgreSQL, per test module (a module with other settings defines its own `metrics`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from metrics_harness import MetricsHarness, harness_on_private_topics
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def metrics(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> AsyncIterator[MetricsHarness]:
    """The service on private topics and a private database; tests start and stop it."""
    async with harness_on_private_topics(
        kafka_topics.private,
        infra.kafka_bootstrap,
        database_url,
    ) as harness:
        yield harness
