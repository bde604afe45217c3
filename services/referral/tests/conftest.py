"""Fixtures for the referral tests: the service on the real Kafka and PostgreSQL, served over
HTTP, with private topics, development token keys, fresh encryption keys and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from referral_harness import RunningReferral, SettableClock, private_topics
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault, PostgresSubjectKeyStore
from signaalpunt_referral.config import ReferralSettings
from signaalpunt_referral.main import build
from signaalpunt_runtime.serving import serving as serving_service
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def referral(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningReferral]:
    keys = tmp_path_factory.mktemp("referral-keys")
    generate_key_pair(keys)
    kek = KeyEncryptionKeys.generate_spec("test")
    topics = await private_topics(kafka_topics)
    settings = ReferralSettings(
        database_url=database_url,  # type: ignore[arg-type]
        kafka_bootstrap=infra.kafka_bootstrap,
        key_encryption_keys=kek,  # type: ignore[arg-type]
        jwks_file=keys / "jwks.json",
        outbox_poll_interval=0.2,
    )
    clock = SettableClock()
    running, app = build(
        settings, topics=topics, clock=clock, watch_deadlines=False, send_webhooks=False
    )
    async with serving_service(app) as served:
        key_store = PostgresSubjectKeyStore.with_own_pool(
            database_url, KeyEncryptionKeys.from_spec(kek)
        )
        await key_store.open()
        try:
            async with (
                httpx.AsyncClient(base_url=served.url, timeout=30) as client,
                httpx.AsyncClient(base_url=served.management_url, timeout=30) as management,
            ):
                yield RunningReferral(
                    client=client,
                    referrals=running,
                    topics=topics,
                    keys=keys,
                    vault=PersonalDataVault(key_store),
                    infra=infra,
                    clock=clock,
                    management=management,
                )
        finally:
            await key_store.close()
