"""One partner's flood of bad events does not hold up another partner (issue 16).

A GP's system goes wrong and sends 1,000 bad events in a burst (plaintext, unsigned, invalid,
outside the consortium); right after them a housing association sends valid reports. Both
partners' events share a partition here (their URNs hash to the same one of six), the worst
case: the housing association's reports wait behind the flood. They must all become signals,
the stage must never stop for the GP's mistakes (refusals are the GP's problem), and the flood
must cost one transaction per batch, not one per bad event (before: 1,000 transactions and
dead-letter round trips one after the other, ~90 s on the loaded test machine).

How long the housing association's reports wait is measured by `bench/partner_flood.py`
(figures in docs/partners.md); this test asserts the behaviour that bounds it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka.structs import RecordMetadata
from intake_harness import RunningIntake
from signaalpunt_contracts import partner_rejections_topic
from signaalpunt_privacy.partner_encryption import encrypt_for_intake, sign_and_encrypt
from signaalpunt_runtime.broker_factory import make_producer
from test_partner_channel import GP, report

HOUSING = "urn:signaalpunt:partner:woonstichting-walcheren"
BAD_EVENTS = 1000
GOOD_EVENTS = 20


@dataclass(frozen=True)
class Sent:
    partner: str
    event_id: str
    partition: int
    offset: int


def _headers(partner: str, event_id: str, *, encrypted: bool = True) -> list[tuple[str, bytes]]:
    return [
        ("content-type", b"application/jose" if encrypted else b"application/json"),
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", partner.encode()),
        ("ce_type", b"nl.signaalpunt.partner.signal.v1"),
    ]


def bad_event(intake: RunningIntake, n: int) -> tuple[bytes, list[tuple[str, bytes]], str]:
    """The n-th of the GP's bad events: four kinds of mistakes, refused at every stage."""
    event_id = f"flood-{n}-{uuid.uuid4().hex[:6]}"
    jwks = json.loads((intake.keys / "partner-jwks.json").read_text())
    key = intake.partner_keys[GP]
    kind = n % 4
    if kind == 0:  # plaintext: not_encrypted (kept only encrypted in the dead-letter topic)
        return json.dumps(report()).encode(), _headers(GP, event_id, encrypted=False), event_id
    headers = _headers(GP, event_id)
    if kind == 1:  # encrypted but not signed: not_signed
        return encrypt_for_intake(json.dumps(report()).encode(), jwks), headers, event_id
    if kind == 2:  # signed and valid, but outside the consortium: outside_consortium
        outside = report(subject={"birth_year": 1950, "postcode": "1012 AB"})
        return sign_and_encrypt(json.dumps(outside).encode(), key, jwks), headers, event_id
    invalid = report(subject={"birth_year": "long ago", "postcode": "4532 AB"})  # invalid
    return sign_and_encrypt(json.dumps(invalid).encode(), key, jwks), headers, event_id


def good_event(intake: RunningIntake, n: int) -> tuple[bytes, list[tuple[str, bytes]], str]:
    event_id = f"housing-{n}-{uuid.uuid4().hex[:6]}"
    jwks = json.loads((intake.keys / "partner-jwks.json").read_text())
    valid = report(
        reporter={"kind": "professional", "organisation": "Woonstichting Walcheren"},
        subject={"birth_year": 1944, "postcode": "4381 AB"},
    )
    signed = sign_and_encrypt(json.dumps(valid).encode(), intake.partner_keys[HOUSING], jwks)
    return signed, _headers(HOUSING, event_id), event_id


async def send_all(
    intake: RunningIntake, partner: str, events: list[tuple[bytes, list[tuple[str, bytes]], str]]
) -> list[Sent]:
    """A burst: every event handed to the producer at once, then all acknowledged."""
    producer = make_producer(intake.infra.kafka_bootstrap, client_id=f"flood-{partner[-8:]}")
    await producer.start()
    try:
        pending = [
            await producer.send(
                intake.partner_signals.name, value=value, key=partner.encode(), headers=headers
            )
            for value, headers, _ in events
        ]
        acked: list[RecordMetadata] = await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return [
        Sent(partner, event_id, meta.partition, meta.offset)
        for (_, _, event_id), meta in zip(events, acked, strict=True)
    ]


async def handled_at(intake: RunningIntake, sent: list[Sent]) -> dict[tuple[int, int], Any]:
    """When intake finished each sent event (taken or refused): its inbox row's time."""
    conn = await asyncpg.connect(intake.database_url)
    try:
        rows = await conn.fetch(
            'SELECT "partition", "offset", processed_at FROM intake.inbox'
            " WHERE topic = $1 AND consumer = 'intake'",
            intake.partner_signals.name,
        )
    finally:
        await conn.close()
    wanted = {(s.partition, s.offset) for s in sent}
    return {
        (r["partition"], r["offset"]): r["processed_at"]
        for r in rows
        if (r["partition"], r["offset"]) in wanted
    }


async def test_a_partners_flood_of_bad_events_does_not_hold_up_another_partner(
    intake: RunningIntake,
) -> None:
    stage = next(s for s in intake.service.stages if s.topic.name == intake.partner_signals.name)
    flood = [bad_event(intake, n) for n in range(BAD_EVENTS)]
    valid = [good_event(intake, n) for n in range(GOOD_EVENTS)]

    paused_seen: set[str] = set()
    watching = True

    async def watch_the_stage() -> None:
        while watching:
            if stage.paused is not None:
                paused_seen.add(stage.paused.value)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_the_stage())
    bad = await send_all(intake, GP, flood)
    good = await send_all(intake, HOUSING, valid)  # after the whole flood is on the topic

    # every one of the housing association's reports becomes one signal
    for _ in range(600):
        done = await handled_at(intake, good)
        if len(done) == GOOD_EVENTS:
            break
        await asyncio.sleep(0.2)
    assert len(done) == GOOD_EVENTS, f"{len(done)} of {GOOD_EVENTS} valid events handled"

    # and every bad event is refused, told to the GP once, the stage never stopping for them
    for _ in range(900):
        refused = await handled_at(intake, bad)
        if len(refused) == BAD_EVENTS:
            break
        await asyncio.sleep(0.2)
    watching = False
    await watcher
    assert len(refused) == BAD_EVENTS, f"{len(refused)} of {BAD_EVENTS} bad events refused"
    assert paused_seen == set(), f"the stage paused ({paused_seen}) for a partner's bad input"
    assert (await intake.management.get("/readyz")).status_code == 200

    conn = await asyncpg.connect(intake.database_url)
    try:
        references = await conn.fetch(
            "SELECT signal->>'partner_reference' AS ref FROM intake.signals"
            " WHERE submitted_by = ANY($1::text[])",
            [GP, HOUSING],
        )
    finally:
        await conn.close()
    taken = [r["ref"] for r in references]
    for s in good:
        assert taken.count(f"{HOUSING}#{s.event_id}") == 1
    assert not {f"{GP}#{s.event_id}" for s in bad} & set(taken)

    # the bound: the flood cost a transaction per batch of events, not one per bad event, so
    # the valid events behind it waited for at most that many transactions (plus decrypting
    # and checking each bad event); bench/partner_flood.py measures how long that is
    batch = intake.service.settings.partner_batch_size  # type: ignore[attr-defined]
    transactions = len(set(refused.values()))
    assert transactions <= 2 * -(-BAD_EVENTS // batch), (
        f"{transactions} transactions for {BAD_EVENTS} bad events in batches of {batch}"
    )
    # each bad event told to the GP once, on its own rejection topic
    own = partner_rejections_topic(GP, prefix=intake.partner_topic_prefix).name
    conn = await asyncpg.connect(intake.database_url)
    try:
        told = await conn.fetchval("SELECT count(*) FROM intake.outbox WHERE topic = $1", own)
    finally:
        await conn.close()
    assert told == BAD_EVENTS
