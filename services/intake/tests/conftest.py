"""Fixtures for the intake tests: the service on the real Kafka and PostgreSQL, served over HTTP,
with private topics, a development key pair for tokens and fresh encryption keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from intake_harness import RunningIntake, running_intake
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def intake(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningIntake]:
    keys = tmp_path_factory.mktemp("intake-keys")
    async with running_intake(infra, kafka_topics, database_url, keys) as running:
        yield running
