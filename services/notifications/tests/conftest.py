"""Fixtures: the notifications service on the real Kafka and PostgreSQL with private topics, a
real SMTP server (aiosmtpd) and a local HTTP receiver for the SMS gateway and webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
import yaml
from notifications_harness import (
    EXTENSION_TEMPLATES,
    PARTNER_SECRET,
    PARTNER_URN,
    UNREACHABLE_PARTNER,
    FakeClock,
    Running,
    Topics,
)
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_contracts import (
    CASE_STEPS,
    NOTIFICATIONS,
    PARTNER_REJECTIONS,
    SIGNALS_ACUTE_ALERTS,
    SIGNALS_DEADLINE_MISSED,
    SIGNALS_RECEIVED,
    SIGNALS_TRIAGED,
)
from signaalpunt_notifications.config import NotificationsSettings
from signaalpunt_notifications.main import Extensions, compose
from signaalpunt_notifications.sinks import Sinks, free_port
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault, PostgresSubjectKeyStore
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    # the partner whose endpoint is gone answers 410: a permanent failure
    running = Sinks(responder=lambda path, _h, _b: 410 if path.endswith("/gone") else 200).start()
    yield running
    running.stop()


def write_partners(folder: Path, sinks: Sinks) -> Path:
    path = folder / "partners.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "partners": [
                    {
                        "urn": PARTNER_URN,
                        "name": "Huisartsen Terneuzen-Noord",
                        "language": "nl",
                        "webhook": {
                            "url": sinks.webhook_url("huisartsen"),
                            "secret": PARTNER_SECRET,
                        },
                    },
                    {
                        "urn": UNREACHABLE_PARTNER,
                        "name": "Woonstichting Walcheren",
                        "language": "en",
                        "webhook": {"url": sinks.webhook_url("gone"), "secret": PARTNER_SECRET},
                    },
                    {
                        "urn": "urn:signaalpunt:partner:wmo-loket-hulst",
                        "name": "Wmo",
                        "language": "nl",
                    },
                ]
            }
        )
    )
    return path


async def private_topics(kafka_topics: TopicFactory) -> Topics:
    return Topics(
        received=await kafka_topics.private(SIGNALS_RECEIVED, "signals.received.v1"),
        triaged=await kafka_topics.private(SIGNALS_TRIAGED, "signals.triaged.v1"),
        acute=await kafka_topics.private(SIGNALS_ACUTE_ALERTS, "signals.acute-alerts.v1"),
        deadline=await kafka_topics.private(SIGNALS_DEADLINE_MISSED, "signals.deadline-missed.v1"),
        steps=await kafka_topics.private(CASE_STEPS, "cases.steps.v1"),
        rejections=await kafka_topics.private(PARTNER_REJECTIONS, "partner.signals.rejections.v1"),
        notifications=await kafka_topics.private(NOTIFICATIONS, "notifications.v1"),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def notifications(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    sinks: Sinks,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:
    folder = tmp_path_factory.mktemp("notifications")
    generate_key_pair(folder)
    topics = await private_topics(kafka_topics)
    kek = KeyEncryptionKeys.generate_spec("test")
    settings = NotificationsSettings(
        database_url=database_url,  # type: ignore[arg-type]
        kafka_bootstrap=infra.kafka_bootstrap,
        key_encryption_keys=kek,  # type: ignore[arg-type]
        jwks_file=folder / "jwks.json",
        partners_file=write_partners(folder, sinks),
        smtp_host="127.0.0.1",
        smtp_port=sinks.smtp_port,
        sms_gateway_url=sinks.sms_url,
        outbox_poll_interval=0.2,
        sender_poll_interval=0.1,
        backoff_initial=timedelta(seconds=0.2),
        backoff_max=timedelta(seconds=1),
        max_attempts=4,
        rate_limit=1000,
        retry_initial_delay=0.05,
        retry_max_delay=0.2,
    )
    clock = FakeClock()
    composed = compose(
        settings,
        notifications=topics.notifications,
        extensions=Extensions(topics=topics.consumed(), template_folders=[EXTENSION_TEMPLATES]),
        clock=clock,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(composed.app, host="127.0.0.1", port=port, log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    key_store = PostgresSubjectKeyStore.with_own_pool(
        database_url, KeyEncryptionKeys.from_spec(kek)
    )
    await key_store.open()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
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
        )
    await key_store.close()
    server.should_exit = True
    await task
