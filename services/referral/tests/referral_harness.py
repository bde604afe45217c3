"""The running referral service as the tests see it: private topics, a database of its own, a
settable clock, a vault to seal help questions as triage does, and readers for its events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import httpx
from signaalpunt_access.dev_tokens import generate_key_pair, mint
from signaalpunt_contracts import (
    CASE_STEPS,
    CONTACT_FIELDS,
    FIRST_NAME_FIELD,
    MATCHES,
    MATCHES_REQUESTED,
    REFERRAL_GAPS,
    REFERRALS,
    SIGNALS_ERASED,
    CaseState,
    CaseStep,
    CaseStepRecordedV1,
    Envelope,
    EventPayload,
    HelpQuestion,
    RiskGroup,
    Route,
    Topic,
)
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault
from signaalpunt_referral.config import ReferralSettings
from signaalpunt_referral.handlers import Referrals, Topics
from signaalpunt_referral.main import build
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.serving import (
    SettableClock,
    database_settings,
    served_with_vault,
)

P = TypeVar("P", bound=EventPayload)


@dataclass
class RunningReferral:
    client: httpx.AsyncClient
    referrals: Referrals
    topics: Topics
    keys: Path
    vault: PersonalDataVault
    infra: Infra
    clock: SettableClock
    management: httpx.AsyncClient  # the management port: health, /metrics, the docs

    def staff(
        self,
        *roles: str,
        municipality: str = "GM0715",
        also: tuple[str, ...] = (),
        subject: str = "staff:team-1",
    ) -> dict[str, str]:
        token = mint(
            self.keys,
            subject=subject,
            kind="staff",
            municipalities=[municipality, *also],
            roles=roles or ("team",),
        )
        return {"Authorization": f"Bearer {token}"}

    def organisation(self, organisation_id: UUID | str) -> dict[str, str]:
        token = mint(
            self.keys,
            subject=f"urn:signaalpunt:organisation:{organisation_id}",
            kind="partner",
            municipalities=["GM0715"],
            roles=("organisation",),
        )
        return {"Authorization": f"Bearer {token}"}

    async def publish(self, topic: Topic, envelope: Envelope[Any], key: str) -> None:
        producer = make_producer(self.infra.kafka_bootstrap, client_id="referral-tests")
        await producer.start()
        try:
            await producer.send_and_wait(
                topic.name, value=envelope.model_dump_json().encode(), key=key.encode()
            )
        finally:
            await producer.stop()

    async def help_question(
        self,
        *,
        needs: tuple[str, ...],
        text: str | None = None,
        municipality: str = "GM0715",
        route: Route = Route.TEAM_WELZIJN,
        risk_groups: tuple[RiskGroup, ...] = (),
        consent: bool = True,
        publish: bool = True,
        **question: Any,
    ) -> Envelope[CaseStepRecordedV1]:
        """Record a help question as triage would publish it (words sealed); with `publish`
        false, only make the event (to send many at once)."""
        signal_id, subject_id = uuid4(), uuid4()
        sealed = (
            await self.vault.seal(subject_id, municipality, text, field="help_question.text")
            if text
            else None
        )
        if contact_plain := question.pop("contact_plain", None):
            question["contact"] = {
                attribute: await self.vault.seal(
                    subject_id, municipality, value, field=CONTACT_FIELDS[attribute]
                )
                for attribute, value in contact_plain.items()
            }
            question["consent_to_share_contact"] = True
        if first_name_plain := question.pop("first_name_plain", None):
            question["first_name"] = await self.vault.seal(
                subject_id, municipality, first_name_plain, field=FIRST_NAME_FIELD
            )
        step = CaseStepRecordedV1(
            signal_id=signal_id,
            step=CaseStep.HELP_QUESTION_RECORDED,
            previous_state=CaseState.IN_INTAKE,
            state=CaseState.IN_INTAKE,
            route=route,
            help_question=HelpQuestion.model_validate(
                {"needs": needs, "text": sealed, "consent_to_refer": consent, **question}
            ),
            risk_groups=risk_groups,
            subject_id=subject_id,
            recorded_by="staff:desk-1",
            received_at=datetime.now(UTC),
            recorded_at=datetime.now(UTC),
        )
        envelope = Envelope.new(step, municipality=municipality, producer="triage")
        if publish:
            await self.publish(self.topics.steps, envelope, str(signal_id))
        return envelope

    async def proposals(
        self, signal_id: UUID, *, count: int = 1, municipality: str = "GM0715"
    ) -> dict[str, Any]:
        """The signal's referrals through the API once at least `count` exist."""
        headers = self.staff(municipality=municipality)
        body: dict[str, Any] = {}
        for _ in range(300):
            answer = await self.client.get(f"/v1/referral/signals/{signal_id}", headers=headers)
            if answer.status_code == 200:
                body = answer.json()
                if len(body["referrals"]) >= count:
                    return body
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {count} referrals for {signal_id} in 30 s: {body}")

    async def events(
        self,
        topic: Topic,
        model: type[P],
        done: Callable[[list[Envelope[P]]], bool],
        *,
        settle: float = 0.0,
    ) -> list[Envelope[P]]:
        reader = make_reader(self.infra.kafka_bootstrap)
        await reader.start()
        events: list[Envelope[P]] = []
        try:
            reader.subscribe([topic.name])
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            settled_at: float | None = None
            while True:
                batch = await reader.getmany(timeout_ms=300)
                for records in batch.values():
                    events += [Envelope[model].model_validate_json(r.value or b"") for r in records]  # type: ignore[valid-type]
                now = loop.time()
                if settled_at is None and done(events):
                    settled_at = now
                if settled_at is not None and now - settled_at >= settle:
                    return events
                if now > deadline:
                    raise AssertionError(f"{topic.name}: condition not met in 60 s")
        finally:
            await reader.stop()

    async def about(
        self, topic: Topic, model: type[P], signal_id: UUID, *, count: int = 1, settle: float = 0.0
    ) -> list[P]:
        def mine(events: list[Envelope[P]]) -> list[P]:
            return [e.data for e in events if getattr(e.data, "signal_id", None) == signal_id]

        return mine(
            await self.events(topic, model, lambda es: len(mine(es)) >= count, settle=settle)
        )


async def private_topics(kafka_topics: TopicFactory) -> Topics:
    """The service's topics, private to the test module (here, not in conftest: every
    service has a conftest module, so `from conftest import` may find another service's)."""
    return Topics(
        steps=await kafka_topics.private(CASE_STEPS, "cases.steps.v1"),
        referrals=await kafka_topics.private(REFERRALS, "referrals.v1"),
        matches=await kafka_topics.private(MATCHES_REQUESTED, "matches.requested.v1"),
        gaps=await kafka_topics.private(REFERRAL_GAPS, "referrals.gaps.v1"),
        erased=await kafka_topics.private(SIGNALS_ERASED, "signals.erased.v1"),
        outcomes=await kafka_topics.private(MATCHES, "matches.v1"),
    )


@asynccontextmanager
async def running_referral(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    keys: Path,
    *,
    service_database_url: str | None = None,
    send_webhooks: bool = False,
) -> AsyncIterator[RunningReferral]:
    """Referral served over HTTP on private topics, with fresh token and encryption keys; with
    `service_database_url` as its own database role."""
    generate_key_pair(keys)
    kek = KeyEncryptionKeys.generate_spec("test")
    topics = await private_topics(kafka_topics)
    settings = ReferralSettings(
        **database_settings(database_url, service_database_url),
        kafka_bootstrap=infra.kafka_bootstrap,
        key_encryption_keys=kek,  # type: ignore[arg-type]
        jwks_file=keys / "jwks.json",
        outbox_poll_interval=0.2,
        tombstone_check_interval=0.2,  # the tombstones' retention runs while tests look
    )
    clock = SettableClock()
    running, app = build(
        settings, topics=topics, clock=clock, watch_deadlines=False, send_webhooks=send_webhooks
    )
    async with served_with_vault(app, database_url, kek) as served:
        yield RunningReferral(
            client=served.client,
            referrals=running,
            topics=topics,
            keys=keys,
            vault=served.vault,
            infra=infra,
            clock=clock,
            management=served.management,
        )
