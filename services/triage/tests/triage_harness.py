"""The running triage service as the tests see it: private topics, a database of its own, a
clock the test can set, a vault to seal concern texts as intake does, and readers for its events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import httpx
from signaalpunt_access.dev_tokens import generate_key_pair, mint
from signaalpunt_contracts import (
    CASE_STEPS,
    REFERRALS,
    SIGNALS_ACUTE_ALERTS,
    SIGNALS_DEADLINE_MISSED,
    SIGNALS_ERASED,
    SIGNALS_POSSIBLE_ACUTE_ALERTS,
    SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED,
    SIGNALS_RECEIVED,
    SIGNALS_TRIAGED,
    Channel,
    Concern,
    Cue,
    Envelope,
    EventPayload,
    ReportedUrgency,
    Reporter,
    ReporterKind,
    SignalReceivedV1,
    Subject,
    Topic,
)
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.serving import SettableClock, database_settings, served_with_vault
from signaalpunt_triage.config import TriageSettings
from signaalpunt_triage.handlers import Topics, Triage
from signaalpunt_triage.main import build

P = TypeVar("P", bound=EventPayload)


@dataclass
class RunningTriage:
    client: httpx.AsyncClient
    triage: Triage
    topics: Topics
    keys: Path
    vault: PersonalDataVault
    infra: Infra
    clock: SettableClock
    database_url: str
    management: httpx.AsyncClient  # the management port: health, /metrics, the docs
    sent: list[UUID] = field(default_factory=list)

    def token(
        self,
        *,
        roles: tuple[str, ...] = ("coordinator",),
        municipality: str = "GM0715",
        subject: str = "staff:regisseur-1",
        kind: str = "staff",
    ) -> dict[str, str]:
        token = mint(
            self.keys, subject=subject, kind=kind, municipalities=[municipality], roles=roles
        )
        return {"Authorization": f"Bearer {token}"}

    async def send(
        self,
        text: str | None = None,
        *,
        cues: tuple[str, ...] = (),
        birth_year: int | None = None,
        urgency: str = "normal",
        municipality: str = "GM0715",
        received_at: datetime | None = None,
        envelope: Envelope[SignalReceivedV1] | None = None,
    ) -> Envelope[SignalReceivedV1]:
        """Publish a signal as intake would (text sealed with the subject's data key)."""
        if envelope is None:
            subject_id = uuid4()
            sealed = (
                await self.vault.seal(subject_id, municipality, text, field="concern.text")
                if text
                else None
            )
            signal = SignalReceivedV1(
                signal_id=uuid4(),
                subject_id=subject_id,
                channel=Channel.WEB_FORM,
                reporter=Reporter(kind=ReporterKind.RELATIVE_OR_NEIGHBOUR, may_contact=True),
                subject=Subject(birth_year=birth_year),
                concern=Concern(text=sealed, cues=tuple(Cue(c) for c in cues)),
                reported_urgency=ReportedUrgency(urgency),
                received_at=received_at or datetime.now(UTC),
            )
            envelope = Envelope.new(signal, municipality=municipality, producer="intake")
        producer = make_producer(self.infra.kafka_bootstrap, client_id="triage-tests")
        await producer.start()
        try:
            await producer.send_and_wait(
                self.topics.received.name,
                value=envelope.model_dump_json().encode(),
                key=str(envelope.data.signal_id).encode(),
            )
        finally:
            await producer.stop()
        self.sent.append(envelope.data.signal_id)
        return envelope

    async def events(
        self,
        topic: Topic,
        model: type[P],
        done: Callable[[list[Envelope[P]]], bool],
        *,
        settle: float = 0.0,
    ) -> list[Envelope[P]]:
        """Every event on `topic` once `done(events)` holds (then `settle` seconds more)."""
        reader = make_reader(self.infra.kafka_bootstrap)
        await reader.start()
        events: list[Envelope[P]] = []
        try:
            reader.subscribe([topic.name])
            deadline = asyncio.get_running_loop().time() + 60
            settled_at: float | None = None
            while True:
                batch = await reader.getmany(timeout_ms=300)
                for records in batch.values():
                    events += [Envelope[model].model_validate_json(r.value or b"") for r in records]  # type: ignore[valid-type]
                now = asyncio.get_running_loop().time()
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
        """The payloads on `topic` for one signal, once there are at least `count`."""

        def mine(events: list[Envelope[P]]) -> list[P]:
            return [e.data for e in events if getattr(e.data, "signal_id", None) == signal_id]

        return mine(
            await self.events(topic, model, lambda es: len(mine(es)) >= count, settle=settle)
        )

    async def case(self, signal_id: UUID, **token: Any) -> dict[str, Any]:
        """The case through the API, once the consumer has triaged it."""
        for _ in range(200):
            answer = await self.client.get(
                f"/v1/triage/signals/{signal_id}", headers=self.token(**token)
            )
            if answer.status_code == 200:
                return dict(answer.json())
            await asyncio.sleep(0.1)
        raise AssertionError(f"signal {signal_id} not triaged in 20 s: {answer.status_code}")


async def private_topics(kafka_topics: TopicFactory) -> Topics:
    """Private copies of triage's topics (here, not in conftest: every service has a conftest
    module, so `from conftest import` in one pytest process may find another service's)."""
    return Topics(
        received=await kafka_topics.private(SIGNALS_RECEIVED, "signals.received.v1"),
        triaged=await kafka_topics.private(SIGNALS_TRIAGED, "signals.triaged.v1"),
        alerts=await kafka_topics.private(SIGNALS_ACUTE_ALERTS, "signals.acute-alerts.v1"),
        missed=await kafka_topics.private(SIGNALS_DEADLINE_MISSED, "signals.deadline-missed.v1"),
        steps=await kafka_topics.private(CASE_STEPS, "cases.steps.v1"),
        possible_alerts=await kafka_topics.private(
            SIGNALS_POSSIBLE_ACUTE_ALERTS, "signals.possible-acute-alerts.v1"
        ),
        review_missed=await kafka_topics.private(
            SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED, "signals.possible-acute-review-missed.v1"
        ),
        referrals=await kafka_topics.private(REFERRALS, "referrals.v1"),
        erased=await kafka_topics.private(SIGNALS_ERASED, "signals.erased.v1"),
    )


@asynccontextmanager
async def running_triage(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    keys: Path,
    *,
    service_database_url: str | None = None,
) -> AsyncIterator[RunningTriage]:
    """Triage served over HTTP on private topics, with fresh token and encryption keys. With
    `service_database_url` it runs as its own database role (migrated beforehand by the owner,
    as the migration job does in a deployment); the key store stays the owner's."""
    generate_key_pair(keys)
    kek = KeyEncryptionKeys.generate_spec("test")
    topics = await private_topics(kafka_topics)
    settings = TriageSettings(
        **database_settings(database_url, service_database_url),
        kafka_bootstrap=infra.kafka_bootstrap,
        key_encryption_keys=kek,  # type: ignore[arg-type]
        jwks_file=keys / "jwks.json",
        outbox_poll_interval=0.2,
        tombstone_check_interval=0.2,  # the tombstones' retention runs while tests look
    )
    clock = SettableClock()
    running, app = build(settings, topics=topics, clock=clock, watch_deadlines=False)
    async with served_with_vault(app, database_url, kek) as served:
        yield RunningTriage(
            client=served.client,
            triage=running,
            topics=topics,
            keys=keys,
            vault=served.vault,
            infra=infra,
            clock=clock,
            database_url=database_url,
            management=served.management,
        )
