"""The running intake service as the tests see it."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml
from signaalpunt_access.dev_tokens import generate_key_pair, mint
from signaalpunt_contracts import (
    CASE_STEPS,
    PARTNER_REJECTIONS,
    PARTNER_SIGNALS,
    SIGNALS_ERASED,
    SIGNALS_RECEIVED,
    Topic,
)
from signaalpunt_intake import partner_repository
from signaalpunt_intake.config import IntakeSettings
from signaalpunt_intake.domain import Partner
from signaalpunt_intake.main import MIGRATIONS, build
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_privacy.partner_encryption import generate_key_pair as generate_partner_keys
from signaalpunt_privacy.partner_encryption import new_signing_key, public_key
from signaalpunt_runtime import Service
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_runtime.serving import serving
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.serving import database_settings


@dataclass
class RunningIntake:
    client: httpx.AsyncClient
    service: Service
    received: Topic
    keys: Path
    database_url: str
    infra: Infra
    partner_signals: Topic
    rejections: Topic
    case_steps: Topic
    partner_keys: dict[str, dict[str, Any]]  # each registered partner's private signing key
    partner_topic_prefix: str  # each partner's own rejection topic: <prefix><slug>.rejections.v1
    erased: Topic
    management: httpx.AsyncClient  # the management port: health, /metrics, the docs

    def token(
        self,
        *,
        kind: str = "staff",
        municipality: str = "GM0715",
        roles: tuple[str, ...] = ("desk",),
        channels: tuple[str, ...] = (),
        partner_type: str | None = None,
        subject: str = "urn:signaalpunt:staff:desk-1",
    ) -> dict[str, str]:
        token = mint(
            self.keys,
            subject=subject,
            kind=kind,
            municipalities=[municipality],
            roles=roles,
            channels=channels,
            partner_type=partner_type,
        )
        return {"Authorization": f"Bearer {token}"}


SEED = Path(__file__).resolve().parents[3] / "deploy" / "local" / "partners.yaml"


async def register_partners(database_url: str) -> dict[str, dict[str, Any]]:
    """The development partners (deploy/local/partners.yaml) in the registry, each with a new
    signing key; returns their private keys by URN (what each partner's system holds)."""
    await upgrade_async(MIGRATIONS, database_url, "intake")
    private: dict[str, dict[str, Any]] = {}
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "intake"})
    try:
        for entry in yaml.safe_load(SEED.read_text())["partners"]:
            key = new_signing_key(f"{entry['urn'].rsplit(':', 1)[-1]}-{os.urandom(3).hex()}")
            private[entry["urn"]] = key
            partner = Partner(
                urn=entry["urn"],
                name=entry["name"],
                partner_type=entry["partner_type"],
                municipalities=tuple(entry["municipalities"]),
                signing_keys=(public_key(key),),
            )
            await partner_repository.save(conn, partner, actor="test-setup", action="add")
    finally:
        await conn.close()
    return private


@asynccontextmanager
async def running_intake(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    keys: Path,
    *,
    service_database_url: str | None = None,
) -> AsyncIterator[RunningIntake]:
    """Intake served over HTTP on private topics, with fresh token, partner and encryption
    keys and the test partners registered; with `service_database_url` as its own database role
    (then without partners: registering them needs the owner's migrations first)."""
    generate_key_pair(keys)
    generate_partner_keys(keys / "partner-key.json", keys / "partner-jwks.json", kid="test")
    received = await kafka_topics.private(SIGNALS_RECEIVED, "signals.received.v1")
    partner_signals = await kafka_topics.private(PARTNER_SIGNALS, "partner.signals.v1")
    rejections = await kafka_topics.private(PARTNER_REJECTIONS, "partner.signals.rejections.v1")
    case_steps = await kafka_topics.private(CASE_STEPS, "cases.steps.v1", consumers=("intake",))
    erased = await kafka_topics.private(SIGNALS_ERASED, "signals.erased.v1")
    partner_keys = {} if service_database_url else await register_partners(database_url)
    partner_topic_prefix = f"t-{os.urandom(4).hex()}.partner."  # this module's partner topics
    settings = IntakeSettings(
        **database_settings(database_url, service_database_url),
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
