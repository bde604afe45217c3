"""scripts/demo_parts/notifications.py: the sinks it starts receive what the service sends, and
its report names template and kind of recipient without any address."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import os
from pathlib import Path
from types import ModuleType
from uuid import uuid4

import pytest
from notifications_harness import PARTNER_URN, acute, envelope, eventually, private_topics, rejected
from rich.console import Console
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_notifications.config import NotificationsSettings
from signaalpunt_notifications.main import Extensions, compose
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_runtime.broker_factory import make_producer
from signaalpunt_testkit.plugin import Infra, TopicFactory

DEMO_PART = Path(__file__).resolve().parents[3] / "scripts" / "demo_parts" / "notifications.py"


def demo_part() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_part_notifications", DEMO_PART)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_demo_sinks_receive_and_the_report_shows_no_address(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    part = demo_part()
    env, sinks = part.start_sinks()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SIGNAALPUNT_DATABASE_URL", database_url)
    monkeypatch.setenv("SIGNAALPUNT_KAFKA_BOOTSTRAP", infra.kafka_bootstrap)
    generate_key_pair(tmp_path)
    topics = await private_topics(kafka_topics)
    settings = NotificationsSettings(
        key_encryption_keys=KeyEncryptionKeys.generate_spec("demo"),  # type: ignore[arg-type]
        jwks_file=tmp_path / "jwks.json",
    )
    composed = compose(
        settings,
        notifications=topics.notifications,
        extensions=Extensions(topics=topics.consumed(), partners_listed=topics.listed),
    )
    service = composed.service
    await service.start_database()
    await service.broker.start()
    try:
        producer = make_producer(infra.kafka_bootstrap, client_id="demo-part-test")
        await producer.start()
        alert, refusal = envelope(acute(uuid4(), uuid4())), envelope(rejected(PARTNER_URN))
        for event, topic, key in (
            (alert, topics.acute, str(alert.data.signal_id)),
            (refusal, topics.rejections, PARTNER_URN),
        ):
            await producer.send_and_wait(
                topic.name, event.model_dump_json().encode(), key=key.encode()
            )
        await producer.stop()

        def three() -> bool:
            got = sinks.received
            return len(got.mails) + len(got.sms) + len(got.webhooks) >= 3

        await eventually(three, what="e-mail, SMS and webhook at the demo's sinks")
        output = io.StringIO()
        summary = await asyncio.to_thread(part.report, sinks, Console(file=output, width=200))
    finally:
        await service.broker.stop()
        await service.stop_database()
        sinks.stop()
    assert summary["distinct"] == 3
    assert summary["by_template"] == {"coordinator_acute_alert": 2, "partner_refusal": 1}
    text = output.getvalue()
    assert "coordinator" in text
    assert "partner" in text
    assert "@" not in text  # no e-mail address
    assert "+316" not in text
    assert os.environ["SIGNAALPUNT_NOTIFICATIONS_PARTNERS_FILE"].endswith("partners.yaml")
