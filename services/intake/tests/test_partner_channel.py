"""Partner systems over Kafka: CloudEvents in, canonical signals out, refusals told back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from intake_harness import RunningIntake
from signaalpunt_contracts import Envelope, PartnerSignalRejectedV1, SignalReceivedV1
from signaalpunt_privacy.partner_encryption import (
    PartnerKeyring,
    encrypt_for_intake,
    new_signing_key,
    sign_and_encrypt,
)
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_runtime.dead_letters import list_dead_letters

GP = "urn:signaalpunt:partner:huisartsen-terneuzen-noord"


def report(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reporter": {"kind": "professional", "organisation": "Huisartsen Terneuzen-Noord"},
        "subject": {"name": "Cornelia Partnertest", "birth_year": 1938, "postcode": "4532 AB"},
        "concern": {"text": "Komt alleen nog voor recepten.", "cues": ["lives_alone"]},
    }
    return body | overrides


async def send(
    intake: RunningIntake,
    data: Any,
    *,
    source: str = GP,
    event_id: str | None = None,
    cloudevent: bool = True,
    encrypted: bool = True,
    extra_headers: tuple[tuple[str, bytes], ...] = (),
    timestamp_ms: int | None = None,
    signed_by: dict[str, Any] | None = None,
    signed: bool = True,
) -> str:
    """What a partner's system sends: the report signed with its key (`signed_by`, by default
    the key of `source`), encrypted to intake's key, as a CloudEvent in binary mode."""
    event_id = event_id or f"evt-{uuid.uuid4().hex[:10]}"
    value = data if isinstance(data, bytes) else json.dumps(data).encode()
    jwks = json.loads((intake.keys / "partner-jwks.json").read_text())
    key = signed_by or intake.partner_keys.get(source) or new_signing_key("stranger")
    if encrypted and signed:
        value = sign_and_encrypt(value, key, jwks)
    elif encrypted:
        value = encrypt_for_intake(value, jwks)
    headers = [("content-type", b"application/jose" if encrypted else b"application/json")]
    if cloudevent:
        headers += [
            ("ce_specversion", b"1.0"),
            ("ce_id", event_id.encode()),
            ("ce_source", source.encode()),
            ("ce_type", b"nl.signaalpunt.partner.signal.v1"),
            ("ce_time", b"2026-11-23T09:00:00Z"),
        ]
    headers += list(extra_headers)
    producer = make_producer(intake.infra.kafka_bootstrap, client_id="partner-test")
    await producer.start()
    try:
        await producer.send_and_wait(
            intake.partner_signals.name,
            value=value,
            key=source.encode(),
            headers=headers,
            timestamp_ms=timestamp_ms,
        )
    finally:
        await producer.stop()
    return event_id


async def _read(intake: RunningIntake, topic: str, done: Any) -> list[bytes]:
    reader = make_reader(intake.infra.kafka_bootstrap)
    await reader.start()
    try:
        reader.subscribe([topic])
        values: list[bytes] = []
        for _ in range(60):
            for records in (await reader.getmany(timeout_ms=500)).values():
                values += [r.value or b"" for r in records]
            if done(values):
                return values
        raise AssertionError(f"not found on {topic}")
    finally:
        await reader.stop()


async def signals_from(intake: RunningIntake, reference: str) -> list[Envelope[SignalReceivedV1]]:
    def parse(values: list[bytes]) -> list[Envelope[SignalReceivedV1]]:
        events = [Envelope[SignalReceivedV1].model_validate_json(v) for v in values]
        return [e for e in events if e.data.partner_reference == reference]

    return parse(await _read(intake, intake.received.name, parse))


async def rejection_of(intake: RunningIntake, event_id: str) -> PartnerSignalRejectedV1:
    def find(values: list[bytes]) -> list[PartnerSignalRejectedV1]:
        events = [Envelope[PartnerSignalRejectedV1].model_validate_json(v).data for v in values]
        return [e for e in events if e.partner_event_id == event_id]

    return find(await _read(intake, intake.rejections.name, find))[0]


async def test_a_partner_event_becomes_one_canonical_signal(intake: RunningIntake) -> None:
    event_id = await send(intake, report())
    await send(intake, report(), event_id=event_id)  # the partner's retry: same source and id
    (signal,) = await signals_from(intake, f"{GP}#{event_id}")
    assert signal.data.channel == "partner_event"
    assert signal.municipality == "GM0715"
    assert signal.data.reporter.partner == GP
    assert signal.data.reporter.partner_type == "huisarts"
    assert b"Partnertest" not in signal.model_dump_json().encode()
    conn = await asyncpg.connect(intake.database_url)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM intake.signals WHERE signal->>'partner_reference' = $1",
            f"{GP}#{event_id}",
        )
    finally:
        await conn.close()
    assert stored == 1, "the same source and id twice is one signal"


async def test_refused_events_are_dead_lettered_and_the_partner_told_why(
    intake: RunningIntake,
) -> None:
    invalid = await send(
        intake,
        report(reporter={"kind": "alien"}, subject={"birth_year": 1850, "postcode": "4532 AB"}),
    )
    outside = await send(intake, report(subject={"birth_year": 1950, "postcode": "1012 AB"}))
    elsewhere = await send(intake, report(subject={"birth_year": 1950, "postcode": "4331 AA"}))

    refused = await rejection_of(intake, invalid)
    assert refused.reason == "invalid"
    assert {e.field for e in refused.field_errors} == {"reporter.kind", "subject.birth_year"}
    assert "1850" not in refused.model_dump_json()
    assert (await rejection_of(intake, outside)).reason == "outside_consortium"
    assert (await rejection_of(intake, elsewhere)).reason == "not_authorised"

    parked = await list_dead_letters(
        intake.infra.kafka_bootstrap, intake.partner_signals.dead_letter_topic("intake")
    )
    parked_ids = {letter.headers.get("ce_id") for letter in parked}
    assert {invalid, outside, elsewhere} <= parked_ids


async def test_unknown_senders_and_non_cloudevents_only_reach_the_dead_letters(
    intake: RunningIntake,
) -> None:
    stranger = await send(intake, report(), source="urn:signaalpunt:partner:onbekend")
    await send(intake, b'{"not": "a cloudevent"}', cloudevent=False)
    followed = await send(intake, report())  # and the channel goes on
    assert await signals_from(intake, f"{GP}#{followed}")
    parked = await list_dead_letters(
        intake.infra.kafka_bootstrap, intake.partner_signals.dead_letter_topic("intake")
    )
    errors = {letter.headers.get("ce_id", "<none>"): letter.error for letter in parked}
    assert "unknown_partner" in errors[stranger]
    assert "not_a_cloudevent: missing header(s) ce_specversion, ce_id" in errors["<none>"]


async def test_partner_events_travel_encrypted_and_plain_ones_are_refused(
    intake: RunningIntake,
) -> None:
    secret = report(
        subject={"name": "Gerarda Geheim-Partner", "birth_year": 1940, "postcode": "4532 AB"}
    )
    accepted = await send(intake, secret)
    plain = await send(intake, secret, encrypted=False)
    assert await signals_from(intake, f"{GP}#{accepted}")
    assert (await rejection_of(intake, plain)).reason == "not_encrypted"
    raw = b"".join(
        await _read(
            intake,
            intake.partner_signals.name,
            lambda values: any(b"Geheim-Partner" in v for v in values),  # the plain one, sent last
        )
    )
    # only the partner's own plain event (refused) carries the name; the encrypted one never did
    assert raw.count(b"Geheim-Partner") == 1
    parked = await list_dead_letters(
        intake.infra.kafka_bootstrap, intake.partner_signals.dead_letter_topic("intake")
    )
    # the refused plain event is parked, but encrypted to intake's key: readable nowhere
    (kept,) = [letter for letter in parked if letter.headers.get("ce_id") == plain]
    assert b"Geheim" not in kept.value
    assert b"Geheim" in PartnerKeyring(intake.keys / "partner-key.json").decrypt(kept.value)


async def test_a_replayed_partner_event_keeps_the_time_it_first_arrived(
    intake: RunningIntake,
) -> None:
    """Issue 14, defect 4: a replayed partner signal took the replay's time as its received time,
    so its first-contact deadline moved. `signaalpunt-dlq replay` keeps the original's Kafka
    timestamp and marks the copy; intake takes the received time from it."""
    first_arrived = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    replayed = await send(
        intake,
        report(),
        extra_headers=(
            ("signaalpunt-replay-for", b"intake"),
            ("signaalpunt-replay-of", f"{intake.partner_signals.name}.dlq.intake:0:7".encode()),
            ("signaalpunt-replay-count", b"1"),
        ),
        timestamp_ms=int(first_arrived.timestamp() * 1000),
    )
    (signal,) = await signals_from(intake, f"{GP}#{replayed}")
    assert signal.data.received_at == first_arrived
