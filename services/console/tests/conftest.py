"""One set of running services for the console's tests (module scope): intake, triage,
referral, matching and notifications on the real Kafka and PostgreSQL with private topics, the
development identity provider, and the console, each served over HTTP on a free port."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from console_harness import RunningConsole, free_port
from pydantic import SecretStr
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_console.config import ConsoleSettings
from signaalpunt_console.dev_idp import DevIdentityProvider
from signaalpunt_console.dev_idp import build_app as build_idp
from signaalpunt_console.main import build as build_console
from signaalpunt_contracts import (
    CASE_STEPS,
    MATCHES,
    MATCHES_REQUESTED,
    NOTIFICATIONS,
    PARTNER_REJECTIONS,
    PARTNER_SIGNALS,
    PARTNERS_LISTED,
    REFERRAL_GAPS,
    REFERRALS,
    SIGNALS_ACUTE_ALERTS,
    SIGNALS_DEADLINE_MISSED,
    SIGNALS_ERASED,
    SIGNALS_POSSIBLE_ACUTE_ALERTS,
    SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED,
    SIGNALS_RECEIVED,
    SIGNALS_TRIAGED,
    VOLUNTEERS_VOG_EXPIRING,
)
from signaalpunt_intake.config import IntakeSettings
from signaalpunt_intake.main import build as build_intake
from signaalpunt_matching import handlers as matching_handlers
from signaalpunt_matching.config import MatchingSettings
from signaalpunt_matching.main import build as build_matching
from signaalpunt_notifications.config import NotificationsSettings
from signaalpunt_notifications.main import Extensions
from signaalpunt_notifications.main import build as build_notifications
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_privacy.partner_encryption import generate_key_pair as generate_partner_keys
from signaalpunt_referral import handlers as referral_handlers
from signaalpunt_referral.config import DEMO_MAP, ReferralSettings
from signaalpunt_referral.main import build as build_referral
from signaalpunt_runtime.serving import ServiceApp, serving
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_triage import handlers as triage_handlers
from signaalpunt_triage.config import TriageSettings
from signaalpunt_triage.main import build as build_triage


def no_partners(folder: Path) -> Path:
    """Notifications' partners file: none here (partner messages are notifications' tests)."""
    path = folder / "partners.yaml"
    path.write_text("partners: []\n", encoding="utf-8")
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def console(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningConsole]:
    keys = tmp_path_factory.mktemp("console-keys")
    generate_key_pair(keys)
    kek = KeyEncryptionKeys.generate_spec("test")
    private = kafka_topics.private
    steps = await private(CASE_STEPS, "cases.steps.v1")
    referrals = await private(REFERRALS, "referrals.v1")
    erased = await private(SIGNALS_ERASED, "signals.erased.v1")
    triage_topics = triage_handlers.Topics(
        received=await private(SIGNALS_RECEIVED, "signals.received.v1"),
        triaged=await private(SIGNALS_TRIAGED, "signals.triaged.v1"),
        alerts=await private(SIGNALS_ACUTE_ALERTS, "signals.acute-alerts.v1"),
        missed=await private(SIGNALS_DEADLINE_MISSED, "signals.deadline-missed.v1"),
        steps=steps,
        possible_alerts=await private(
            SIGNALS_POSSIBLE_ACUTE_ALERTS, "signals.possible-acute-alerts.v1"
        ),
        review_missed=await private(
            SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED, "signals.possible-acute-review-missed.v1"
        ),
        referrals=referrals,
        erased=erased,
    )
    referral_topics = referral_handlers.Topics(
        steps=steps,
        referrals=referrals,
        matches=await private(MATCHES_REQUESTED, "matches.requested.v1"),
        gaps=await private(REFERRAL_GAPS, "referrals.gaps.v1"),
        erased=erased,
        outcomes=await private(MATCHES, "matches.v1"),
    )
    matching_topics = matching_handlers.Topics(
        requests=referral_topics.matches,
        matches=referral_topics.outcomes,
        vog=await private(VOLUNTEERS_VOG_EXPIRING, "volunteers.vog-expiring.v1"),
        erased=erased,
    )
    common: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap": infra.kafka_bootstrap,
        "key_encryption_keys": kek,
        "jwks_file": keys / "jwks.json",
        "outbox_poll_interval": 0.2,
    }
    generate_partner_keys(keys / "partner-key.json", keys / "partner-jwks.json", kid="test")
    partner_rejections = await private(PARTNER_REJECTIONS, "partner.signals.rejections.v1")
    _, intake_app = build_intake(
        IntakeSettings(
            **common,
            blind_index_key=SecretStr(base64.b64encode(os.urandom(32)).decode()),
            partner_decryption_key_file=keys / "partner-key.json",
            web_form_limit=10_000,  # every test's forms come from one address
            partner_topic_prefix=f"t-{os.urandom(4).hex()}.partner.",
        ),
        received=triage_topics.received,
        partner_signals=await private(PARTNER_SIGNALS, "partner.signals.v1"),
        rejections=partner_rejections,
        case_steps=steps,
        erased=erased,
    )
    _, triage_app = build_triage(
        TriageSettings(**common), topics=triage_topics, watch_deadlines=False
    )
    _, referral_app = build_referral(
        ReferralSettings(**common, demo_map=DEMO_MAP),
        topics=referral_topics,
        watch_deadlines=False,
        send_webhooks=False,
    )
    _, matching_app = build_matching(
        MatchingSettings(**common), topics=matching_topics, watch=False
    )
    _, notifications_app = build_notifications(
        NotificationsSettings(
            **common,
            partners_file=no_partners(keys),
            smtp_port=free_port(),  # nobody listens: the messages stay "being sent", and show
            sender_poll_interval=0.2,
        ),
        notifications=await private(NOTIFICATIONS, "notifications.v1"),
        extensions=Extensions(
            topics=(
                triage_topics.received,
                triage_topics.triaged,
                triage_topics.alerts,
                triage_topics.possible_alerts,
                triage_topics.review_missed,
                triage_topics.missed,
                steps,
                partner_rejections,
                referrals,
                referral_topics.outcomes,
                matching_topics.vog,
                erased,
            ),
            partners_listed=await private(PARTNERS_LISTED, "partners.listed.v1"),
        ),
    )
    idp = build_idp(DevIdentityProvider(keys=keys))
    idp_app = ServiceApp(api=idp, management=idp, lifespan=idp)
    console_port = free_port()
    async with (
        serving(intake_app) as intake,
        serving(triage_app) as triage,
        serving(referral_app) as referral,
        serving(matching_app) as matching,
        serving(notifications_app) as notifications,
        serving(idp_app) as served_idp,
    ):
        settings = ConsoleSettings(
            public_url=f"http://127.0.0.1:{console_port}",
            oidc_discovery_url=f"{served_idp.url}/.well-known/openid-configuration",
            jwks_file=keys / "jwks.json",
            intake_url=intake.url,
            triage_url=triage.url,
            referral_url=referral.url,
            matching_url=matching.url,
            notifications_url=notifications.url,
        )
        async with (
            serving(build_console(settings), port=console_port) as served,
            httpx.AsyncClient(base_url=intake.url, timeout=30) as intake_client,
            httpx.AsyncClient(base_url=triage.url, timeout=30) as triage_client,
            httpx.AsyncClient(base_url=matching.url, timeout=30) as matching_client,
        ):
            yield RunningConsole(
                url=served.url,
                idp_url=served_idp.url,
                intake=intake_client,
                triage=triage_client,
                keys=keys,
                settings=settings,
                kafka_bootstrap=infra.kafka_bootstrap,
                matches=referral_topics.outcomes,
                matching=matching_client,
            )
