"""With the real intake service in front: a reporter fills in the web form, intake seals their
e-mail address with the person's data key, and notifications opens it only to send the receipt."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
import uvicorn
from faststream.asgi.types import ASGIApp
from notifications_harness import (
    EXTENSION_TEMPLATES,
    FakeClock,
    eventually,
    private_topics,
    write_partners,
)
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_contracts import PARTNER_SIGNALS
from signaalpunt_intake.config import IntakeSettings
from signaalpunt_intake.main import build as build_intake
from signaalpunt_notifications.config import NotificationsSettings
from signaalpunt_notifications.main import Extensions, compose
from signaalpunt_notifications.sinks import Sinks, free_port
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_privacy.partner_encryption import generate_key_pair as generate_partner_keys
from signaalpunt_testkit.plugin import Infra, TopicFactory


async def _serve(app: ASGIApp) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    return server, task, port


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def intake_and_notifications(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[httpx.AsyncClient, Sinks]]:
    folder = tmp_path_factory.mktemp("with-intake")
    generate_key_pair(folder)
    generate_partner_keys(folder / "partner-key.json", folder / "partner-jwks.json", kid="t")
    topics = await private_topics(kafka_topics)
    partner_signals = await kafka_topics.private(PARTNER_SIGNALS, "partner.signals.v1")
    kek = KeyEncryptionKeys.generate_spec("shared")  # one KEK set: intake seals, we open
    sinks = Sinks().start()
    _, intake_app = build_intake(
        IntakeSettings(
            database_url=database_url,  # type: ignore[arg-type]
            kafka_bootstrap=infra.kafka_bootstrap,
            key_encryption_keys=kek,  # type: ignore[arg-type]
            blind_index_key=base64.b64encode(os.urandom(32)).decode(),  # type: ignore[arg-type]
            jwks_file=folder / "jwks.json",
            partner_decryption_key_file=folder / "partner-key.json",
            outbox_poll_interval=0.2,
        ),
        received=topics.received,
        partner_signals=partner_signals,
        case_steps=topics.steps,
        rejections=topics.rejections,
    )
    composed = compose(
        NotificationsSettings(
            database_url=database_url,  # type: ignore[arg-type]
            kafka_bootstrap=infra.kafka_bootstrap,
            key_encryption_keys=kek,  # type: ignore[arg-type]
            jwks_file=folder / "jwks.json",
            # the packaged partners file carries no webhook secrets: the test's own has them
            partners_file=write_partners(folder, sinks),
            smtp_port=sinks.smtp_port,
            sms_gateway_url=sinks.sms_url,
            sender_poll_interval=0.1,
            outbox_poll_interval=0.2,
        ),
        notifications=topics.notifications,
        extensions=Extensions(
            topics=topics.consumed(),
            template_folders=[EXTENSION_TEMPLATES],
            partners_listed=topics.listed,
        ),
        clock=FakeClock(),
    )
    served = [await _serve(intake_app), await _serve(composed.app)]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served[0][2]}", timeout=30) as client:
        yield client, sinks
    for server, task, _ in reversed(served):
        server.should_exit = True
        await task
    sinks.stop()


async def test_a_web_form_reporter_gets_the_receipt_at_the_address_intake_sealed(
    intake_and_notifications: tuple[httpx.AsyncClient, Sinks],
) -> None:
    client, sinks = intake_and_notifications
    answer = await client.post(
        "/v1/signals",
        json={
            "channel": "web_form",
            "municipality": "GM0715",
            "reporter": {
                "kind": "relative_or_neighbour",
                "email": "buurvrouw.de.vries@example.org",
                "may_contact": True,
            },
            "subject": {"birth_year": 1941},
            "concern": {
                "text": "Mijn buurman komt de deur niet meer uit.",
                "cues": ["lives_alone"],
            },
        },
    )
    assert answer.status_code == 202, answer.text
    reference = answer.json()["signal_id"][-8:].upper()

    def arrived() -> bool:
        with sinks.received.lock:
            return any(
                m.recipients == ("buurvrouw.de.vries@example.org",) for m in sinks.received.mails
            )

    await eventually(arrived, timeout=60, what="the receipt e-mail")
    (mail,) = [
        m for m in sinks.received.mails if m.recipients == ("buurvrouw.de.vries@example.org",)
    ]
    assert "ontvangen" in mail.subject
    assert reference in mail.text()
    assert "buurman" not in mail.text()  # never what the signal says
