"""Fixtures for the intake tests: the service on the real Kafka and PostgreSQL, served over HTTP,
with private topics, a development key pair for tokens and fresh encryption keys."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from intake_harness import RunningIntake, register_partners
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_contracts import (
    CASE_STEPS,
    PARTNER_REJECTIONS,
    PARTNER_SIGNALS,
    SIGNALS_ERASED,
    SIGNALS_RECEIVED,
)
from signaalpunt_intake.config import IntakeSettings
from signaalpunt_intake.main import build
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_privacy.partner_encryption import generate_key_pair as generate_partner_keys
from signaalpunt_runtime.serving import serving
from signaalpunt_testkit.plugin import Infra, TopicFactory


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def intake(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningIntake]:
    keys = tmp_path_factory.mktemp("intake-keys")
    generate_key_pair(keys)
    generate_partner_keys(keys / "partner-key.json", keys / "partner-jwks.json", kid="test")
    received = await kafka_topics.private(SIGNALS_RECEIVED, "signals.received.v1")
    partner_signals = await kafka_topics.private(PARTNER_SIGNALS, "partner.signals.v1")
    rejections = await kafka_topics.private(PARTNER_REJECTIONS, "partner.signals.rejections.v1")
    case_steps = await kafka_topics.private(CASE_STEPS, "cases.steps.v1", consumers=("intake",))
    partner_keys = await register_partners(database_url)
    partner_topic_prefix = f"t-{os.urandom(4).hex()}.partner."  # this module's partner topics
    erased = await kafka_topics.private(SIGNALS_ERASED, "signals.erased.v1")
    settings = IntakeSettings(
        database_url=database_url,  # type: ignore[arg-type]
        kafka_bootstrap=infra.kafka_bootstrap,
        key_encryption_keys=KeyEncryptionKeys.generate_spec("test"),  # type: ignore[arg-type]
        blind_index_key=base64.b64encode(os.urandom(32)).decode(),  # type: ignore[arg-type]
        jwks_file=keys / "jwks.json",
        partner_decryption_key_file=keys / "partner-key.json",
        outbox_poll_interval=0.2,
        web_form_limit=10_000,  # tests send many forms from one address; one test lowers it
        partner_registry_refresh=0.5,
        partner_topic_cleanup_interval=0.5,
        partner_topic_prefix=partner_topic_prefix,
    )
    service, app = build(
        settings,
        received=received,
        partner_signals=partner_signals,
        rejections=rejections,
        case_steps=case_steps,
        erased=erased,
    )
    async with (
        serving(app) as served,
        httpx.AsyncClient(base_url=served.url, timeout=30) as client,
        httpx.AsyncClient(base_url=served.management_url, timeout=30) as management,
    ):
        yield RunningIntake(
            client,
            service,
            received,
            keys,
            database_url,
            infra,
            partner_signals,
            rejections,
            case_steps,
            partner_keys,
            partner_topic_prefix,
            erased,
            management,
        )
