"""Fixtures for the matching tests: the service on the real Kafka and PostgreSQL, served over
HTTP, with private topics, development token keys, fresh encryption keys and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from matching_harness import RunningMatching, running_matching
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def matching(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningMatching]:
    keys = tmp_path_factory.mktemp("matching-keys")
    async with running_matching(infra, kafka_topics, database_url, keys) as running:
        yield running
