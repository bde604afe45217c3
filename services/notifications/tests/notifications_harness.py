"""The running notifications service as the tests see it, and helpers to feed and watch it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import yaml
from aiokafka import TopicPartition
from signaalpunt_access.dev_tokens import generate_key_pair, mint
from signaalpunt_contracts import (
    CASE_STEPS,
    MATCHES,
    NOTIFICATIONS,
    PARTNER_REJECTIONS,
    PARTNERS_LISTED,
    REFERRALS,
    SIGNALS_ACUTE_ALERTS,
    SIGNALS_DEADLINE_MISSED,
    SIGNALS_ERASED,
    SIGNALS_POSSIBLE_ACUTE_ALERTS,
    SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED,
    SIGNALS_RECEIVED,
    SIGNALS_TRIAGED,
    VOLUNTEERS_VOG_EXPIRING,
    AcuteSignalAlertV1,
    CaseStepRecordedV1,
    DeadlineMissedV1,
    Envelope,
    EventPayload,
    MatchUpdatedV1,
    PartnerListedV1,
    PartnerSignalRejectedV1,
    PossibleAcuteAlertV1,
    PossibleAcuteReviewMissedV1,
    ReferralUpdatedV1,
    SignalErasedV1,
    SignalReceivedV1,
    SignalTriagedV1,
    Topic,
    VolunteerVogExpiringV1,
)
from signaalpunt_contracts.envelope import new_event_id
from signaalpunt_contracts.notifications import NotificationV1
from signaalpunt_notifications.config import NotificationsSettings
from signaalpunt_notifications.domain import AMSTERDAM
from signaalpunt_notifications.main import Extensions, Notifications, compose
from signaalpunt_notifications.sinks import Sinks
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault, PostgresSubjectKeyStore
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_runtime.serving import serving
from signaalpunt_testkit.plugin import Infra, TopicFactory

TESTS = Path(__file__).resolve().parent
EXTENSION_TEMPLATES = TESTS / "extension_templates"
PARTNER_URN = "urn:signaalpunt:partner:huisartsen-terneuzen-noord"
PARTNER_SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLWh1aXNhcnRzZW4tdGVybmV1emVu"
UNREACHABLE_PARTNER = "urn:signaalpunt:partner:woonstichting-walcheren"
LISTED_PARTNER = "urn:signaalpunt:partner:wijkteam-vlissingen"


@dataclass
class FakeClock:
    """The service's clock: real time, shifted when a test wants it to be another moment.
    It keeps running (retries and backoff still come due)."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)

    def at_local(self, hour: int, minute: int = 0, *, days: int = 1) -> datetime:
        """Move to hh:mm Amsterdam time, `days` from today (a weekday-independent moment)."""
        today = datetime.now(AMSTERDAM).date() + timedelta(days=days)
        moment = datetime.combine(today, time_of_day(hour, minute), tzinfo=AMSTERDAM)
        self.set(moment)
        return moment

    def reset(self) -> None:
        self.offset = timedelta(0)


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], *, timeout: float = 30, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Topics:
    received: Topic
    triaged: Topic
    acute: Topic
    deadline: Topic
    steps: Topic
    rejections: Topic
    notifications: Topic
    possible_acute: Topic
    review_missed: Topic
    referrals: Topic
    erased: Topic
    listed: Topic
    matches: Topic
    vog_expiring: Topic

    def consumed(self) -> tuple[Topic, ...]:
        return (
            self.received,
            self.triaged,
            self.acute,
            self.possible_acute,
            self.review_missed,
            self.deadline,
            self.steps,
            self.rejections,
            self.referrals,
            self.matches,
            self.vog_expiring,
            self.erased,
        )

    def for_payload(self, payload: EventPayload) -> Topic:
        return {
            SignalReceivedV1: self.received,
            SignalTriagedV1: self.triaged,
            AcuteSignalAlertV1: self.acute,
            DeadlineMissedV1: self.deadline,
            CaseStepRecordedV1: self.steps,
            PartnerSignalRejectedV1: self.rejections,
            PossibleAcuteAlertV1: self.possible_acute,
            PossibleAcuteReviewMissedV1: self.review_missed,
            ReferralUpdatedV1: self.referrals,
            SignalErasedV1: self.erased,
            PartnerListedV1: self.listed,
            MatchUpdatedV1: self.matches,
            VolunteerVogExpiringV1: self.vog_expiring,
        }[type(payload)]


async def private_topics(kafka_topics: TopicFactory) -> Topics:
    return Topics(
        received=await kafka_topics.private(SIGNALS_RECEIVED, "signals.received.v1"),
        triaged=await kafka_topics.private(SIGNALS_TRIAGED, "signals.triaged.v1"),
        acute=await kafka_topics.private(SIGNALS_ACUTE_ALERTS, "signals.acute-alerts.v1"),
        deadline=await kafka_topics.private(SIGNALS_DEADLINE_MISSED, "signals.deadline-missed.v1"),
        steps=await kafka_topics.private(CASE_STEPS, "cases.steps.v1"),
        rejections=await kafka_topics.private(PARTNER_REJECTIONS, "partner.signals.rejections.v1"),
        notifications=await kafka_topics.private(NOTIFICATIONS, "notifications.v1"),
        possible_acute=await kafka_topics.private(
            SIGNALS_POSSIBLE_ACUTE_ALERTS, "signals.possible-acute-alerts.v1"
        ),
        review_missed=await kafka_topics.private(
            SIGNALS_POSSIBLE_ACUTE_REVIEW_MISSED, "signals.possible-acute-review-missed.v1"
        ),
        referrals=await kafka_topics.private(REFERRALS, "referrals.v1"),
        erased=await kafka_topics.private(SIGNALS_ERASED, "signals.erased.v1"),
        listed=await kafka_topics.private(PARTNERS_LISTED, "partners.listed.v1"),
        matches=await kafka_topics.private(MATCHES, "matches.v1"),
        vog_expiring=await kafka_topics.private(
            VOLUNTEERS_VOG_EXPIRING, "volunteers.vog-expiring.v1"
        ),
    )


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
                    {  # its webhook URL only from the partner registry (partners.listed.v1)
                        "urn": LISTED_PARTNER,
                        "name": "Wijkteam Vlissingen",
                        "language": "nl",
                        "webhook": {"secret": PARTNER_SECRET},
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


@dataclass
class Running:
    notifications: Notifications
    client: httpx.AsyncClient
    topics: Topics
    sinks: Sinks
    vault: PersonalDataVault
    clock: FakeClock
    infra: Infra
    database_url: str
    keys: Path
    management: httpx.AsyncClient  # the management port: health, /metrics, the docs
    published: list[Envelope[Any]] = field(default_factory=list)

    async def publish(self, event: Envelope[Any], *, times: int = 1) -> Envelope[Any]:
        """Put `event` on its topic (`times` > 1: the same event again, as a redelivery)."""
        topic = self.topics.for_payload(event.data)
        data = event.data
        key = str(
            getattr(data, "signal_id", None)
            or getattr(data, "partner", None)
            or getattr(data, "volunteer_id", "")
        )
        producer = make_producer(self.infra.kafka_bootstrap, client_id="notifications-tests")
        await producer.start()
        try:
            for _ in range(times):
                await producer.send_and_wait(
                    topic.name, event.model_dump_json().encode(), key=key.encode()
                )
        finally:
            await producer.stop()
        self.published.append(event)
        return event

    async def deliveries(self, **where: Any) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.database_url)
        try:
            clauses = " AND ".join(f"{k} = ${i + 1}" for i, k in enumerate(where)) or "true"
            rows = await conn.fetch(
                f"SELECT * FROM notifications.deliveries WHERE {clauses} ORDER BY created_at",
                *where.values(),
            )
        finally:
            await conn.close()
        return [dict(r) for r in rows]

    async def handled(self, event_id: UUID) -> bool:
        """The service's inbox has the event: it was handled (whatever the rules decided)."""
        conn = await asyncpg.connect(self.database_url)
        try:
            found = await conn.fetchval(
                "SELECT count(*) FROM notifications.inbox WHERE event_id = $1", event_id
            )
        finally:
            await conn.close()
        return bool(found)

    def token(
        self,
        *,
        municipality: str = "GM0715",
        roles: tuple[str, ...] = ("operator",),
        kind: str = "staff",
    ) -> dict[str, str]:
        token = mint(
            self.keys,
            subject="urn:signaalpunt:staff:operator-1",
            kind=kind,
            municipalities=[municipality],
            roles=roles,
        )
        return {"Authorization": f"Bearer {token}"}


async def outcomes(running: Running) -> list[Envelope[NotificationV1]]:
    records = await read_all(running.infra.kafka_bootstrap, running.topics.notifications.name)
    return [Envelope[NotificationV1].model_validate_json(value) for _, value, _ in records]


def envelope(payload: EventPayload, municipality: str = "GM0715") -> Envelope[Any]:
    return Envelope.new(payload, municipality=municipality, producer="tests")


async def read_all(
    bootstrap: str, topic: str
) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """Everything on `topic` right now: (key, value, headers)."""
    reader = make_reader(bootstrap)
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()]
        if not partitions:
            await reader._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()
            ]
        reader.assign(partitions)
        ends = await reader.end_offsets(partitions)
        await reader.seek_to_beginning(*partitions)
        out: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []
        while any([await reader.position(tp) < ends[tp] for tp in partitions]):
            batch = await reader.getmany(timeout_ms=1000)
            for records in batch.values():
                out.extend((r.key, r.value or b"", dict(r.headers or ())) for r in records)
        return out
    finally:
        await reader.stop()


def received_signal(
    *,
    subject_id: UUID,
    email: str | None = None,
    phone: str | None = None,
    may_contact: bool = True,
    wants_feedback: bool = False,
    languages: tuple[str, ...] = (),
    signal_id: UUID | None = None,
) -> SignalReceivedV1:
    return SignalReceivedV1.model_validate(
        {
            "signal_id": str(signal_id or new_event_id()),
            "subject_id": str(subject_id),
            "channel": "web_form",
            "reporter": {
                "kind": "self" if languages else "relative_or_neighbour",
                "email": email,
                "phone": phone,
                "may_contact": may_contact,
                "wants_feedback": wants_feedback,
            },
            "subject": {"languages": list(languages)},
            "concern": {"cues": ["lives_alone"]},
            "received_at": datetime.now(UTC).isoformat(),
        }
    )


def triaged(
    signal_id: UUID, subject_id: UUID, *, decision: int = 1, route: str = "team_eenzaamheid"
) -> SignalTriagedV1:
    now = datetime.now(UTC)
    return SignalTriagedV1.model_validate(
        {
            "signal_id": str(signal_id),
            "subject_id": str(subject_id),
            "channel": "web_form",
            "decision": decision,
            "route": route,
            "priority": "normal",
            "first_contact_due": (now + timedelta(days=3)).isoformat(),
            "needs_review": False,
            "decided_by": "rules" if decision == 1 else "coordinator",
            "rules_version": "default@test",
            "received_at": now.isoformat(),
            "decided_at": now.isoformat(),
        }
    )


def closed(signal_id: UUID) -> CaseStepRecordedV1:
    now = datetime.now(UTC).isoformat()
    return CaseStepRecordedV1.model_validate(
        {
            "signal_id": str(signal_id),
            "step": "closed",
            "previous_state": "referred",
            "state": "closed",
            "route": "team_eenzaamheid",
            "close_reason": "support_arranged",
            "recorded_by": "staff:desk-1",
            "received_at": now,
            "recorded_at": now,
        }
    )


def acute(signal_id: UUID, subject_id: UUID) -> AcuteSignalAlertV1:
    now = datetime.now(UTC)
    return AcuteSignalAlertV1.model_validate(
        {
            "signal_id": str(signal_id),
            "subject_id": str(subject_id),
            "matched": ["wish_to_die"],
            "advice": ["involve_113_or_gp"],
            "first_contact_due": (now + timedelta(hours=1)).isoformat(),
            "raised_at": now.isoformat(),
        }
    )


def deadline_missed(signal_id: UUID) -> DeadlineMissedV1:
    now = datetime.now(UTC).isoformat()
    return DeadlineMissedV1.model_validate(
        {
            "signal_id": str(signal_id),
            "route": "team_welzijn",
            "priority": "high",
            "state": "triaged",
            "first_contact_due": now,
            "detected_at": now,
        }
    )


def rejected(partner: str = PARTNER_URN, event_id: str | None = None) -> PartnerSignalRejectedV1:
    return PartnerSignalRejectedV1.model_validate(
        {
            "partner": partner,
            "partner_event_id": event_id or f"hap-{new_event_id()}",
            "reason": "invalid",
            "detail": "1 validation error(s)",
            "field_errors": [
                {"field": "subject.birth_year", "type": "less_than_equal", "reason": "too large"}
            ],
            "rejected_at": datetime.now(UTC).isoformat(),
        }
    )


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
        "tombstone_check_interval": 0.2,  # the tombstones' retention runs while tests look
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
