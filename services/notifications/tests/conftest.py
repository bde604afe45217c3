"""Fixtures: the notifications service on the real Kafka and PostgreSQL with private topics, a
real SMTP server (aiosmtpd) and a local HTTP receiver for the SMS gateway and webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from notifications_harness import (
    EXTENSION_TEMPLATES,
    FakeClock,
    Running,
    private_topics,
    write_partners,
)
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_notifications.config import NotificationsSettings
from signaalpunt_notifications.main import Extensions, compose
from signaalpunt_notifications.sinks import Sinks
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault, PostgresSubjectKeyStore
from signaalpunt_runtime.serving import serving
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    # the partner whose endpoint is gone answers 410: a permanent failure
    running = Sinks(responder=lambda path, _h, _b: 410 if path.endswith("/gone") else 200).start()
    yield running
    running.stop()


@asynccontextmanager
async def running_notifications(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    sinks: Sinks,
    folder: Path,
    **overrides: Any,
) -> AsyncIterator[Running]:
    """The service on private topics, pointed at the sinks; `overrides` change its settings."""
    generate_key_pair(folder)
    topics = await private_topics(kafka_topics)
    kek = KeyEncryptionKeys.generate_spec("test")
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap": infra.kafka_bootstrap,
        "key_encryption_keys": kek,
        "jwks_file": folder / "jwks.json",
        "partners_file": write_partners(folder, sinks),
        "smtp_host": "127.0.0.1",
        "smtp_port": sinks.smtp_port,
        "sms_gateway_url": sinks.sms_url,
        "outbox_poll_interval": 0.2,
        "sender_poll_interval": 0.1,
        "backoff_initial": timedelta(seconds=0.2),
        "backoff_max": timedelta(seconds=1),
        "max_attempts": 4,
        "rate_limit": 1000,
        "retry_initial_delay": 0.05,
        "retry_max_delay": 0.2,
    }
    settings = NotificationsSettings(**(values | overrides))
    clock = FakeClock()
    composed = compose(
        settings,
        notifications=topics.notifications,
        extensions=Extensions(
            topics=topics.consumed(),
            template_folders=[EXTENSION_TEMPLATES],
            partners_listed=topics.listed,
        ),
        clock=clock,
    )
    key_store = PostgresSubjectKeyStore.with_own_pool(
        database_url, KeyEncryptionKeys.from_spec(kek)
    )
    await key_store.open()
    try:
        async with (
            serving(composed.app) as served,
            httpx.AsyncClient(base_url=served.url, timeout=30) as client,
            httpx.AsyncClient(base_url=served.management_url, timeout=30) as management,
        ):
            yield Running(
                notifications=composed,
                client=client,
                topics=topics,
                sinks=sinks,
                vault=PersonalDataVault(key_store),
                clock=clock,
                infra=infra,
                database_url=database_url,
                keys=folder,
                management=management,
            )
    finally:
        await key_store.close()


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
