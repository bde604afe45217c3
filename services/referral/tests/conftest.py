"""Fixtures for the referral tests: the service on the real Kafka and PostgreSQL, served over
HTTP, with private topics, development token keys, fresh encryption keys and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from referral_harness import RunningReferral, running_referral
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def referral(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningReferral]:
    keys = tmp_path_factory.mktemp("referral-keys")
    async with running_referral(infra, kafka_topics, database_url, keys) as running:
        yield running
