"""signals.erased.v1: notifications forgets what it kept for the signal and sends nothing more to
an erased person or reporter (issue 17)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
from notifications_harness import Running, envelope, eventually, received_signal, triaged
from signaalpunt_contracts import ErasureReason, ErasureScope, SignalErasedV1


def _erased(signal_id: UUID, scope: ErasureScope, subject_id: UUID | None) -> SignalErasedV1:
    return SignalErasedV1(
        erasure_id=uuid4(),
        signal_id=signal_id,
        scope=scope,
        subject_id=subject_id if scope is ErasureScope.PERSON else None,
        reporter_id=subject_id,
        reason=ErasureReason.DATA_SUBJECT_REQUEST,
        erased_at=datetime.now(UTC),
    )


async def _kept(running: Running, signal_id: UUID) -> tuple[str | None, int]:
    conn = await asyncpg.connect(running.database_url)
    try:
        facts = await conn.fetchval(
            "SELECT facts::text FROM notifications.signals WHERE signal_id = $1", signal_id
        )
        reasons = await conn.fetchval(
            "SELECT count(*) FROM notifications.reasons WHERE key = $1", str(signal_id)
        )
    finally:
        await conn.close()
    return facts, int(reasons)


async def test_an_erased_person_gets_nothing_more_and_leaves_nothing(
    notifications: Running,
) -> None:
    notifications.clock.at_local(22, 15)  # quiet hours: the SMS waits, so it is still pending
    try:
        subject = uuid4()
        phone = await notifications.vault.seal(
            subject, "GM0715", "+31612345678", field="reporter.phone"
        )
        signal = received_signal(subject_id=subject, phone=phone)
        await notifications.publish(envelope(signal))

        async def waiting() -> bool:
            rows = await notifications.deliveries(signal_id=signal.signal_id)
            return bool(rows) and rows[0]["status"] == "pending"

        await eventually(waiting, what="the receipt SMS waits for the morning")
        facts, reasons = await _kept(notifications, signal.signal_id)
        assert facts is not None
        assert phone in facts
        assert reasons == 1

        erasure = await notifications.publish(
            envelope(_erased(signal.signal_id, ErasureScope.PERSON, subject))
        )
        await eventually(lambda: notifications.handled(erasure.event_id), what="erasure handled")
        (row,) = await notifications.deliveries(signal_id=signal.signal_id)
        assert row["status"] == "failed"
        assert row["last_error"] == "erased"
        assert json.loads(row["address"]) == {}
        facts, reasons = await _kept(notifications, signal.signal_id)
        assert facts is not None
        assert phone not in facts
        assert json.loads(facts)["erased"] is True
        assert reasons == 0

        # a late event about the erased person brings nothing back
        late = await notifications.publish(envelope(triaged(signal.signal_id, subject)))
        await eventually(lambda: notifications.handled(late.event_id), what="late event handled")
        facts, _ = await _kept(notifications, signal.signal_id)
        assert facts is not None
        assert json.loads(facts)["erased"] is True
        assert json.loads(facts)["reporter_phone"] is None
    finally:
        notifications.clock.reset()


async def test_an_erased_reporter_leaves_the_facts_without_their_contact(
    notifications: Running,
) -> None:
    subject = uuid4()
    email = await notifications.vault.seal(
        subject, "GM0715", "melder@example.org", field="reporter.email"
    )
    signal = received_signal(subject_id=subject, email=email, may_contact=False)
    first = await notifications.publish(envelope(signal))
    await eventually(lambda: notifications.handled(first.event_id), what="signal handled")
    erasure = await notifications.publish(
        envelope(_erased(signal.signal_id, ErasureScope.REPORTER, subject))
    )
    await eventually(lambda: notifications.handled(erasure.event_id), what="erasure handled")
    facts, _ = await _kept(notifications, signal.signal_id)
    assert facts is not None
    assert email not in facts
    assert json.loads(facts)["erased"] is False


async def test_an_erased_signals_empty_facts_go_after_730_days(notifications: Running) -> None:
    """As intake's erasure records: a tombstone 731 days old goes, one 729 days old stays."""
    old, young = uuid4(), uuid4()
    conn = await asyncpg.connect(notifications.database_url)
    try:
        for signal_id, days in ((old, 731), (young, 729)):
            await conn.execute(
                "INSERT INTO notifications.signals (signal_id, municipality, facts, updated_at)"
                " VALUES ($1, 'GM0715', $2::text::jsonb, now() - make_interval(days => $3))",
                signal_id,
                json.dumps({"signal_id": str(signal_id), "municipality": "GM0715", "erased": True}),
                days,
            )

        async def pruned() -> bool:
            left = await conn.fetch(
                "SELECT signal_id FROM notifications.signals WHERE signal_id = ANY($1)",
                [old, young],
            )
            return {r["signal_id"] for r in left} == {young}

        await eventually(pruned, what="the erased facts past their retention to go")
    finally:
        await conn.close()
