"""Fixtures for the metrics tests: private topics and database, the service in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from metrics_harness import MetricsHarness, private_topics
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def metrics(
    infra: Infra, kafka_topics: TopicFactory, database_url: str
) -> AsyncIterator[MetricsHarness]:
    topics, watched = await private_topics(kafka_topics.private)
    harness = MetricsHarness(
        bootstrap=infra.kafka_bootstrap, database_url=database_url, topics=topics, watched=watched
    )
    await harness.producer.start()
    yield harness
    await harness.stop()
    await harness.producer.stop()
