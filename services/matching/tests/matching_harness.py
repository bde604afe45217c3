"""The running matching service as the tests see it: tokens, volunteers, match requests (as the
referral service publishes them, the first name sealed with the subject's key) and its events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from signaalpunt_access.dev_tokens import generate_key_pair, mint
from signaalpunt_contracts import (
    FIRST_NAME_FIELD,
    MATCHES,
    MATCHES_REQUESTED,
    SIGNALS_ERASED,
    VOLUNTEERS_VOG_EXPIRING,
    Envelope,
    MatchRequestedV1,
    MatchUpdatedV1,
    Mobility,
    Need,
)
from signaalpunt_matching.config import MatchingSettings
from signaalpunt_matching.handlers import Matching, Topics
from signaalpunt_matching.main import build
from signaalpunt_privacy import KeyEncryptionKeys, PersonalDataVault
from signaalpunt_testkit.plugin import Infra, TopicFactory
from signaalpunt_testkit.serving import (
    SettableClock,
    database_settings,
    publish,
    read_events,
    served_with_vault,
)


@dataclass
class RunningMatching:
    client: httpx.AsyncClient
    ctx: Matching
    settings: MatchingSettings
    topics: Topics
    keys: Path
    vault: PersonalDataVault
    infra: Infra
    clock: SettableClock
    management: httpx.AsyncClient  # the management port: health, /metrics, the docs

    def staff(
        self, *roles: str, municipality: str = "GM0715", subject: str = "staff:vc-1"
    ) -> dict[str, str]:
        token = mint(
            self.keys,
            subject=subject,
            kind="staff",
            municipalities=[municipality],
            roles=roles or ("volunteer_coordinator",),
        )
        return {"Authorization": f"Bearer {token}"}

    async def volunteers(self, *items: dict[str, Any], municipality: str = "GM0715") -> list[UUID]:
        answer = await self.client.post(
            "/v1/matching/volunteers/import",
            json=[volunteer(**i) for i in items],
            headers=self.staff(municipality=municipality),
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert not body["rejected"], body["rejected"]
        return [UUID(v) for v in body["created"]]

    async def request(
        self,
        *,
        needs: tuple[str, ...] = ("buddy",),
        first_name: str | None = "Mien",
        municipality: str = "GM0715",
        send: bool = True,
        **fields: Any,
    ) -> Envelope[MatchRequestedV1]:
        """A match request as the referral service publishes it."""
        subject_id = uuid4()
        sealed = (
            await self.vault.seal(subject_id, municipality, first_name, field=FIRST_NAME_FIELD)
            if first_name
            else None
        )
        data = MatchRequestedV1.model_validate(
            {
                "match_request_id": uuid4(),
                "signal_id": uuid4(),
                "subject_id": subject_id,
                "needs": [Need(n) for n in needs],
                "languages": ["nl"],
                "mobility": Mobility.TRAVELS_INDEPENDENTLY,
                "near": {"lat": 51.33, "lon": 3.83},
                "requested_at": datetime.now(UTC),
                "first_name": sealed,
                **fields,
            }
        )
        envelope = Envelope.new(data, municipality=municipality, producer="referral")
        if send:
            await publish(
                self.infra.kafka_bootstrap, self.topics.requests, envelope, str(data.signal_id)
            )
        return envelope

    async def about(
        self, signal_id: UUID, *, count: int = 1, settle: float = 0.0
    ) -> list[MatchUpdatedV1]:
        """The match events of one signal, once there are `count` of them."""

        def mine(events: list[Envelope[MatchUpdatedV1]]) -> list[MatchUpdatedV1]:
            return [e.data for e in events if e.data.signal_id == signal_id]

        events = await read_events(
            self.infra.kafka_bootstrap,
            self.topics.matches,
            MatchUpdatedV1,
            lambda es: len(mine(es)) >= count,
            settle=settle,
        )
        return mine(events)


def volunteer(**overrides: Any) -> dict[str, Any]:
    """A volunteer as the coordinator records one (Terneuzen centre, buddy visits)."""
    return {
        "municipality": "GM0715",
        "first_name": "Anna",
        "last_name": "de Vries",
        "email": "anna@vrijwilligers.example",
        "postcode": "4531 AB",
        "max_travel_km": 10,
        "skills": ["visits", "walks"],
        "languages": ["nl"],
        "max_matches": 2,
        "vog_issued_on": "2025-01-01",
        "vog_expires_on": "2030-01-01",
        "social_worker": "staff:sw-1",
        **overrides,
    }


@asynccontextmanager
async def running_matching(
    infra: Infra,
    kafka_topics: TopicFactory,
    database_url: str,
    keys: Path,
    *,
    service_database_url: str | None = None,
) -> AsyncIterator[RunningMatching]:
    """Matching served over HTTP on private topics, with fresh token and encryption keys; with
    `service_database_url` as its own database role."""
    generate_key_pair(keys)
    kek = KeyEncryptionKeys.generate_spec("test")
    topics = Topics(
        requests=await kafka_topics.private(MATCHES_REQUESTED, "matches.requested.v1"),
        matches=await kafka_topics.private(MATCHES, "matches.v1"),
        vog=await kafka_topics.private(VOLUNTEERS_VOG_EXPIRING, "volunteers.vog-expiring.v1"),
        erased=await kafka_topics.private(SIGNALS_ERASED, "signals.erased.v1"),
    )
    settings = MatchingSettings(
        **database_settings(database_url, service_database_url),
        kafka_bootstrap=infra.kafka_bootstrap,
        key_encryption_keys=kek,  # type: ignore[arg-type]
        jwks_file=keys / "jwks.json",
        outbox_poll_interval=0.2,
        tombstone_check_interval=0.2,  # the tombstones' retention runs while tests look
    )
    clock = SettableClock()
    running, app = build(settings, topics=topics, clock=clock, watch=False)
    async with served_with_vault(app, database_url, kek, http_timeout=60) as served:
        yield RunningMatching(
            client=served.client,
            ctx=running,
            settings=settings,
            topics=topics,
            keys=keys,
            vault=served.vault,
            infra=infra,
            clock=clock,
            management=served.management,
        )
