"""Planning in batches (issue 22): a burst of events is planned in a few transactions, not one
per event, and still each event once, with a bad one parked alone."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

from notifications_harness import Running, eventually, read_all, received_signal
from signaalpunt_contracts import Envelope, SignalReceivedV1
from signaalpunt_runtime.broker_factory import make_producer

DOMAIN = "notifications.signaalpunt.example"  # the Message-ID's domain (settings' default)


async def _burst(running: Running, events: list[Envelope[SignalReceivedV1]]) -> None:
    """All events with one producer, sent without waiting for each: the consumer finds them
    waiting together, as after a partner's backfill or a restart."""
    producer = make_producer(running.infra.kafka_bootstrap, client_id="notifications-burst")
    await producer.start()
    try:
        sent = [
            await producer.send(
                running.topics.received.name,
                event.model_dump_json().encode(),
                key=str(getattr(event.data, "signal_id", "")).encode(),
            )
            for event in events
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_a_burst_is_planned_once_per_event_and_a_bad_event_is_parked_alone(
    notifications: Running,
) -> None:
    good: list[Envelope[SignalReceivedV1]] = []
    addresses: dict[UUID, str] = {}
    for _ in range(30):
        subject = uuid4()
        address = f"melder-{subject.hex[:10]}@example.org"
        sealed = await notifications.vault.seal(subject, "GM0715", address, field="reporter.email")
        signal = received_signal(subject_id=subject, email=sealed)
        addresses[signal.signal_id] = address
        good.append(Envelope.new(signal, municipality="GM0715", producer="tests"))
    # a municipality notifications has no configuration for: the message's own fault
    stranger = received_signal(subject_id=uuid4())
    bad = Envelope.new(stranger, municipality="GM9999", producer="tests")
    # every good event twice in a row (a redelivery inside the same batch), the bad one midway
    burst = [e for event in good[:15] for e in (event, event)]
    burst += [bad]
    burst += [e for event in good[15:] for e in (event, event)]
    await _burst(notifications, burst)

    rows: list[dict[str, object]] = []

    async def all_sent() -> bool:
        nonlocal rows
        rows = [
            row
            for signal_id in addresses
            for row in await notifications.deliveries(signal_id=signal_id)
        ]
        return len(rows) >= len(addresses) and all(r["status"] == "sent" for r in rows)

    await eventually(all_sent, what="a receipt for each of the 30 signals")
    assert sorted(str(r["signal_id"]) for r in rows) == sorted(str(s) for s in addresses)
    assert {r["template"] for r in rows} == {"reporter_received"}
    with notifications.sinks.received.lock:
        received = list(notifications.sinks.received.mails)
    for row in rows:
        (mail,) = [m for m in received if m.message_id == f"<{row['delivery_id']}@{DOMAIN}>"]
        assert mail.recipients == (addresses[UUID(str(row["signal_id"]))],)
    assert not await notifications.deliveries(signal_id=stranger.signal_id)

    dlq = notifications.topics.received.dead_letter_topic("notifications")

    async def parked() -> list[dict[str, bytes]]:
        records = await read_all(notifications.infra.kafka_bootstrap, dlq)
        return [headers for _, value, headers in records if str(bad.event_id).encode() in value]

    async def bad_parked() -> bool:
        return bool(await parked())

    await eventually(bad_parked, what="the bad event parked")
    # offsets are committed a moment after the events are handled: a rebalance in that moment
    # (the service's consumers are still joining their group) delivers the batch again, and a
    # parked event, having no inbox row, is parked again; the good ones are ignored by the inbox
    for headers in await parked():
        assert headers["dlq-error-message"] == (
            b"no notification configuration for municipality GM9999"
        )
    for event in good:
        assert await notifications.handled(event.event_id)
