"""Fixtures for the triage tests: the service on the real Kafka and PostgreSQL, served over
HTTP, with private topics, development token keys, fresh encryption keys and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault, PostgresSubjectKeyStore
from signaalpunt_runtime.serving import serving
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_triage.config import TriageSettings
from signaalpunt_triage.main import build
from triage_harness import RunningTriage, SettableClock, private_topics


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def triage(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningTriage]:
    keys = tmp_path_factory.mktemp("triage-keys")
    generate_key_pair(keys)
    kek = KeyEncryptionKeys.generate_spec("test")
    topics = await private_topics(kafka_topics)
    settings = TriageSettings(
        database_url=database_url,  # type: ignore[arg-type]
        kafka_bootstrap=infra.kafka_bootstrap,
        key_encryption_keys=kek,  # type: ignore[arg-type]
        jwks_file=keys / "jwks.json",
        outbox_poll_interval=0.2,
    )
    clock = SettableClock()
    running, app = build(settings, topics=topics, clock=clock, watch_deadlines=False)
    async with serving(app) as served:
        key_store = PostgresSubjectKeyStore.with_own_pool(
            database_url, KeyEncryptionKeys.from_spec(kek)
        )
        await key_store.open()
        try:
            async with (
                httpx.AsyncClient(base_url=served.url, timeout=30) as client,
                httpx.AsyncClient(base_url=served.management_url, timeout=30) as management,
            ):
                yield RunningTriage(
                    client=client,
                    triage=running,
                    topics=topics,
                    keys=keys,
                    vault=PersonalDataVault(key_store),
                    infra=infra,
                    clock=clock,
                    database_url=database_url,
                    management=management,
                )
        finally:
            await key_store.close()
