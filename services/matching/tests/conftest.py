"""Fixtures for the matching tests: the service on the real Kafka and PostgreSQL, served over
HTTP, with private topics, development token keys, fresh encryption keys and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from matching_harness import RunningMatching
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_contracts import (
    MATCHES,
    MATCHES_REQUESTED,
    SIGNALS_ERASED,
    VOLUNTEERS_VOG_EXPIRING,
)
from signaalpunt_matching.config import MatchingSettings
from signaalpunt_matching.handlers import Topics
from signaalpunt_matching.main import build
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault, PostgresSubjectKeyStore
from signaalpunt_runtime.serving import serving as serving_service
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.serving import SettableClock


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def matching(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningMatching]:
    keys = tmp_path_factory.mktemp("matching-keys")
    generate_key_pair(keys)
    kek = KeyEncryptionKeys.generate_spec("test")
    topics = Topics(
        requests=await kafka_topics.private(MATCHES_REQUESTED, "matches.requested.v1"),
        matches=await kafka_topics.private(MATCHES, "matches.v1"),
        vog=await kafka_topics.private(VOLUNTEERS_VOG_EXPIRING, "volunteers.vog-expiring.v1"),
        erased=await kafka_topics.private(SIGNALS_ERASED, "signals.erased.v1"),
    )
    settings = MatchingSettings(
        database_url=database_url,  # type: ignore[arg-type]
        kafka_bootstrap=infra.kafka_bootstrap,
        key_encryption_keys=kek,  # type: ignore[arg-type]
        jwks_file=keys / "jwks.json",
        outbox_poll_interval=0.2,
    )
    clock = SettableClock()
    running, app = build(settings, topics=topics, clock=clock, watch=False)
    async with serving_service(app) as served:
        key_store = PostgresSubjectKeyStore.with_own_pool(
            database_url, KeyEncryptionKeys.from_spec(kek)
        )
        await key_store.open()
        try:
            async with (
                httpx.AsyncClient(base_url=served.url, timeout=60) as client,
                httpx.AsyncClient(base_url=served.management_url, timeout=60) as management,
            ):
                yield RunningMatching(
                    client=client,
                    ctx=running,
                    settings=settings,
                    topics=topics,
                    keys=keys,
                    vault=PersonalDataVault(key_store),
                    infra=infra,
                    clock=clock,
                    management=management,
                )
        finally:
            await key_store.close()
