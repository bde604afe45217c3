"""Triage in turn takes signals in batches (issue 22), on the real Kafka and PostgreSQL, and keeps
what one at a time gave: each signal decided exactly once, one bad signal parked alone with its
reason (never its batch), and a database outage waited out, never parked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
from signaalpunt_contracts import (
    AcuteSignalAlertV1,
    Channel,
    Concern,
    Envelope,
    ReportedUrgency,
    Reporter,
    ReporterKind,
    SignalReceivedV1,
    SignalTriagedV1,
    Subject,
)
from signaalpunt_runtime.broker_factory import make_producer
from signaalpunt_runtime.dead_letters import list_dead_letters
from signaalpunt_testkit.outages import postgres_down
from triage_harness import RunningTriage

TEXTS = (
    "Mevrouw woont alleen en krijgt nooit bezoek.",
    "Meneer is sinds de verhuizing erg eenzaam.",
    "Buurman zit de hele dag alleen thuis.",
)


def envelope(subject_id: UUID, sealed: str | None) -> Envelope[SignalReceivedV1]:
    return Envelope.new(
        SignalReceivedV1(
            signal_id=uuid4(),
            subject_id=subject_id,
            channel=Channel.WEB_FORM,
            reporter=Reporter(kind=ReporterKind.RELATIVE_OR_NEIGHBOUR, may_contact=True),
            subject=Subject(),
            concern=Concern(text=sealed, cues=()),
            reported_urgency=ReportedUrgency.NORMAL,
            received_at=datetime.now(UTC),
        ),
        municipality="GM0715",
        producer="intake",
    )


async def signal(triage: RunningTriage, text: str) -> Envelope[SignalReceivedV1]:
    subject_id = uuid4()
    return envelope(
        subject_id, await triage.vault.seal(subject_id, "GM0715", text, field="concern.text")
    )


async def publish(triage: RunningTriage, messages: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(triage.infra.kafka_bootstrap, client_id="triage-batch-test")
    await producer.start()
    try:
        sends = [
            await producer.send(triage.topics.received.name, value=value, key=key)
            for key, value in messages
        ]
        for sent in sends:
            await sent
    finally:
        await producer.stop()


def message(event: Envelope[SignalReceivedV1]) -> tuple[bytes, bytes]:
    return str(event.data.signal_id).encode(), event.model_dump_json().encode()


async def decided(triage: RunningTriage, ids: set[UUID]) -> list[SignalTriagedV1]:
    events = await triage.events(
        triage.topics.triaged,
        SignalTriagedV1,
        lambda es: ids <= {e.data.signal_id for e in es},
        settle=2.0,
    )
    return [e.data for e in events if e.data.signal_id in ids]


async def test_one_bad_signal_is_parked_with_its_reason_and_its_batch_is_decided(
    triage: RunningTriage,
) -> None:
    good = [await signal(triage, TEXTS[i % len(TEXTS)]) for i in range(60)]
    # sealed for someone else: it does not open with this subject's key (its own fault)
    other, subject = uuid4(), uuid4()
    await triage.vault.seal(subject, "GM0715", "sleutel", field="concern.text")  # has a key
    foreign = await triage.vault.seal(other, "GM0715", "Wil niet meer leven", field="concern.text")
    tampered = envelope(subject, foreign)
    messages = [message(e) for e in good[:30]]
    undecodable = json.dumps({"this": "is not a signal", "test": str(uuid4())}).encode()
    messages += [(b"not-a-signal", undecodable), message(tampered)]
    messages += [message(e) for e in good[30:]]
    await publish(triage, messages)

    decisions = await decided(triage, {e.data.signal_id for e in good})
    assert sorted(str(d.signal_id) for d in decisions) == sorted(
        str(e.data.signal_id) for e in good
    ), "every good signal decided, once"
    letters = [
        letter
        for letter in await list_dead_letters(
            triage.infra.kafka_bootstrap, triage.topics.received.dead_letter_topic("triage")
        )
        if letter.value in (undecodable, message(tampered)[1])
    ]
    assert sorted(letter.error.split(":")[0].rsplit(".", 1)[-1] for letter in letters) == [
        "PermanentError",
        "ValidationError",
    ]
    [refused] = [letter for letter in letters if "PermanentError" in letter.error]
    assert json.loads(refused.value)["event_id"] == str(tampered.event_id)
    assert "does not open" in refused.error
    # the tampered signal is not decided as if it had no text
    assert tampered.data.signal_id not in {d.signal_id for d in decisions}


async def test_a_database_outage_is_waited_out_and_each_signal_decided_once(
    triage: RunningTriage,
) -> None:
    before = [await signal(triage, TEXTS[i % len(TEXTS)]) for i in range(20)]
    during = [await signal(triage, TEXTS[i % len(TEXTS)]) for i in range(40)]
    acute = await signal(triage, "Ze zei gisteren dat ze niet meer wil leven.")
    await publish(triage, [message(e) for e in before])
    await decided(triage, {e.data.signal_id for e in before})
    parked_before = await list_dead_letters(
        triage.infra.kafka_bootstrap, triage.topics.received.dead_letter_topic("triage")
    )
    async with postgres_down():
        await publish(triage, [message(e) for e in (*during, acute)])
        # a while longer than the retry budget: one at a time would have parked them
        await triage.events(triage.topics.triaged, SignalTriagedV1, lambda _: True, settle=5.0)

    every = {e.data.signal_id for e in (*before, *during, acute)}
    decisions = await decided(triage, every)
    assert len(decisions) == len(every), "each signal decided exactly once"
    alerts = await triage.about(
        triage.topics.alerts, AcuteSignalAlertV1, acute.data.signal_id, settle=1.0
    )
    assert len(alerts) == 1
    parked = await list_dead_letters(
        triage.infra.kafka_bootstrap, triage.topics.received.dead_letter_topic("triage")
    )
    assert len(parked) == len(parked_before), "nothing parked for the outage"
    acute_lane_parked = await list_dead_letters(
        triage.infra.kafka_bootstrap, triage.topics.received.dead_letter_topic("triage-acute")
    )
    assert not {str(e.event_id) for e in (*during, acute)} & {
        i for letter in acute_lane_parked for i in letter.event_ids
    }


async def test_a_signal_twice_in_one_batch_is_decided_and_told_of_once(
    triage: RunningTriage,
) -> None:
    """A replay (the same signal under a new event id) in the same batch as the signal itself:
    one case, one decision, one step told of (the batch stores its cases in one statement)."""
    first = await signal(triage, "Ze zei gisteren dat ze niet meer wil leven.")
    again = Envelope.new(first.data, municipality="GM0715", producer="intake")
    ordinary = [await signal(triage, TEXTS[i % len(TEXTS)]) for i in range(5)]
    await publish(triage, [message(e) for e in (ordinary[0], first, *ordinary[1:], again)])

    decisions = await decided(triage, {e.data.signal_id for e in (first, *ordinary)})
    assert sorted(str(d.signal_id) for d in decisions) == sorted(
        str(e.data.signal_id) for e in (first, *ordinary)
    ), "each signal decided once"
    alerts = await triage.about(
        triage.topics.alerts, AcuteSignalAlertV1, first.data.signal_id, settle=1.0
    )
    assert len(alerts) == 1
    conn = await asyncpg.connect(triage.database_url)
    try:
        steps = await conn.fetchval(
            "SELECT count(*) FROM triage.steps WHERE signal_id = $1", first.data.signal_id
        )
    finally:
        await conn.close()
    assert steps == 1
