"""What a partner hears when intake refuses (or must not refuse) its event: the defects of issue 16.

Each test sends what a partner's system could really send and checks the rejection the partner
reads back, by its own event id.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
from intake_harness import RunningIntake
from signaalpunt_runtime.broker_factory import make_producer, make_reader
from signaalpunt_runtime.dead_letters import DeadLetter, Selection, list_dead_letters, replay
from test_partner_channel import GP, rejection_of, report, send, signals_from

CJK = "孤" * 5000  # 15,000 UTF-8 bytes: within the 5,000 characters a partner may send
EMOJI = "😔" * 3800  # 15,200 UTF-8 bytes


async def _signal_count(intake: RunningIntake, reference: str) -> int:
    conn = await asyncpg.connect(intake.database_url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM intake.signals WHERE signal->>'partner_reference' = $1",
            reference,
        )
    finally:
        await conn.close()
    return int(count)


async def _send_raw(
    intake: RunningIntake, value: bytes, headers: list[tuple[str, bytes]], *, key: str = GP
) -> None:
    producer = make_producer(intake.infra.kafka_bootstrap, client_id="partner-test")
    await producer.start()
    try:
        await producer.send_and_wait(
            intake.partner_signals.name, value=value, key=key.encode(), headers=headers
        )
    finally:
        await producer.stop()


async def test_a_long_text_in_any_script_is_taken_and_one_too_long_is_named(
    intake: RunningIntake,
) -> None:
    # defect 2: a text within the stated limit in characters must be taken, whatever its bytes
    cjk = await send(intake, report(concern={"text": CJK, "cues": []}))
    emoji = await send(intake, report(concern={"text": EMOJI, "cues": []}))
    assert await signals_from(intake, f"{GP}#{cjk}")
    assert await signals_from(intake, f"{GP}#{emoji}")

    too_long = await send(intake, report(concern={"text": "孤" * 5001, "cues": []}))
    refused = await rejection_of(intake, too_long)
    assert refused.reason == "invalid"
    (error,) = refused.field_errors
    assert error.field == "concern.text"
    assert "5000 characters" in error.reason


async def test_an_event_over_the_size_limit_is_refused_naming_the_limit(
    intake: RunningIntake,
) -> None:
    # defect 3: a valid event of any size up to the limit is taken; beyond it, the refusal says so
    escaped = report(concern={"text": "😔" * 5000, "cues": []})  # ~60 KB of JSON escapes
    large = await send(intake, json.dumps(escaped, ensure_ascii=True).encode())
    assert await signals_from(intake, f"{GP}#{large}")

    huge = await send(intake, report(padding="x" * 300_000))
    refused = await rejection_of(intake, huge)
    assert refused.reason == "too_large"
    assert "262144 bytes" in refused.detail


async def test_a_changed_resend_of_the_same_event_is_a_conflict(intake: RunningIntake) -> None:
    # defect 4: the same ce_id with another body is not silently dropped
    first = await send(intake, report())
    (signal,) = await signals_from(intake, f"{GP}#{first}")
    await send(intake, report(reported_urgency="acute"), event_id=first)
    refused = await rejection_of(intake, first)
    assert refused.reason == "conflict"
    assert first in refused.detail
    assert str(signal.data.signal_id) in refused.detail
    assert await _signal_count(intake, f"{GP}#{first}") == 1


async def test_missing_cloudevent_headers_are_told_to_the_partner_of_the_key(
    intake: RunningIntake,
) -> None:
    # defect 5: no ce_source header; the Kafka key names the partner, who hears what is missing
    event_id = f"evt-{uuid.uuid4().hex[:10]}"
    await _send_raw(
        intake,
        b"eyJ.not.read",
        [("content-type", b"application/jose"), ("ce_id", event_id.encode())],
    )
    refused = await rejection_of(intake, event_id)
    assert refused.reason == "not_a_cloudevent"
    assert refused.partner == GP
    for header in ("ce_source", "ce_type", "ce_specversion"):
        assert header in refused.detail


async def test_structured_mode_is_refused_for_what_it_is_and_not_kept_readable(
    intake: RunningIntake,
) -> None:
    # defect 5: a structured-mode CloudEvent (plain JSON with the report inside)
    event_id = f"evt-{uuid.uuid4().hex[:10]}"
    secret = report(
        subject={"name": "Hendrika Structured", "birth_year": 1940, "postcode": "4532 AB"}
    )
    structured = {
        "specversion": "1.0",
        "id": event_id,
        "source": GP,
        "type": "nl.signaalpunt.partner.signal.v1",
        "datacontenttype": "application/json",
        "data": secret,
    }
    await _send_raw(
        intake,
        json.dumps(structured).encode(),
        [("content-type", b"application/cloudevents+json; charset=utf-8")],
    )
    refused = await rejection_of(intake, event_id)
    assert refused.reason == "structured_mode"
    assert refused.partner == GP
    assert "binary" in refused.detail
    parked = await list_dead_letters(
        intake.infra.kafka_bootstrap, intake.partner_signals.dead_letter_topic("intake")
    )
    assert not [letter for letter in parked if b"Hendrika Structured" in letter.value]


async def test_malformed_json_is_reported_as_such(intake: RunningIntake) -> None:
    # defect 6
    event_id = await send(intake, b'{"reporter": {"kind": "professional"},')
    refused = await rejection_of(intake, event_id)
    assert refused.reason == "malformed_json"
    assert "dictionary" not in refused.detail
    assert "JSON" in refused.detail


async def _still_on_the_partners_topic(intake: RunningIntake, marker: bytes) -> bool:
    """Whether anyone reading partner.signals.v1 from its beginning still finds `marker`."""
    reader = make_reader(intake.infra.kafka_bootstrap)
    await reader.start()
    try:
        reader.subscribe([intake.partner_signals.name])
        found, idle = False, 0
        while idle < 3:  # until three reads in a row bring nothing new
            batches = await reader.getmany(timeout_ms=500)
            idle = 0 if batches else idle + 1
            found |= any(marker in (r.value or b"") for rs in batches.values() for r in rs)
    finally:
        await reader.stop()
    return found


async def test_a_refused_plaintext_does_not_stay_readable_on_the_partners_topic(
    intake: RunningIntake,
) -> None:
    # defect 5: the dead-letter topic keeps a refused plaintext only encrypted, but the copy on
    # partner.signals.v1 stayed readable for the topic's retention (a day) to anyone who may
    # read it; intake deletes what it has taken
    secret = report(subject={"name": "Gerrit Leesbaar", "birth_year": 1937, "postcode": "4532 AB"})
    event_id = await send(intake, secret, encrypted=False)
    assert (await rejection_of(intake, event_id)).reason == "not_encrypted"
    for _ in range(60):
        if not await _still_on_the_partners_topic(intake, b"Gerrit Leesbaar"):
            break
    else:
        raise AssertionError("the refused plaintext is still readable on partner.signals.v1")
    # and a valid event sent after it is still taken
    later = await send(intake, report())
    assert await signals_from(intake, f"{GP}#{later}")


async def test_a_sealed_dead_letter_is_not_replayed(intake: RunningIntake) -> None:
    # the dead-letter topic keeps a refused plaintext only encrypted to intake's key: replaying
    # that copy cannot give the partner's event back (it would be refused again, under a reason
    # that is not the partner's, and told twice); replay leaves it and says why
    event_id = await send(intake, report(), encrypted=False)
    assert (await rejection_of(intake, event_id)).reason == "not_encrypted"
    dlq = intake.partner_signals.dead_letter_topic("intake")
    (entry,) = [
        letter
        for letter in await list_dead_letters(intake.infra.kafka_bootstrap, dlq)
        if event_id in letter.event_ids
    ]
    assert entry.sealed
    left: list[DeadLetter] = []
    replayed = await replay(
        intake.infra.kafka_bootstrap,
        dlq,
        select=Selection(event_ids={event_id}),
        not_replayable=left,
    )
    assert replayed == []
    assert [letter.event_ids for letter in left] == [entry.event_ids]
