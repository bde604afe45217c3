"""Fixtures for the triage tests: the service on the real Kafka and PostgreSQL, served over
HTTP, with private topics, development token keys, fresh encryption keys and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from signaalpunt_testkit.plugin import Infra, TopicFactory
from triage_harness import RunningTriage, running_triage


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def triage(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningTriage]:
    keys = tmp_path_factory.mktemp("triage-keys")
    async with running_triage(infra, kafka_topics, database_url, keys) as running:
        yield running
