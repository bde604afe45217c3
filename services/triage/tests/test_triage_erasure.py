"""After a person is erased: no 500s, and the case forgets what it held (issue 17)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
from signaalpunt_contracts import (
    Envelope,
    ErasureReason,
    ErasureScope,
    SignalErasedV1,
    SignalReceivedV1,
)
from signaalpunt_runtime.broker_factory import make_producer
from signaalpunt_testkit.tombstones import expire_as_intake_does
from triage_harness import RunningTriage


async def test_a_reason_or_note_for_an_erased_person_is_refused_clearly(
    triage: RunningTriage,
) -> None:
    sent = await triage.send("Woont alleen, ziet niemand")
    signal_id = sent.data.signal_id
    await triage.case(signal_id)
    await triage.vault.erase(sent.data.subject_id, reason="data_subject_request")
    path = f"/v1/triage/signals/{signal_id}"

    decided = await triage.client.post(
        f"{path}/decisions",
        headers=triage.token(),
        json={"priority": "high", "reason": "Dochter belde opnieuw"},
    )
    assert decided.status_code == 410, decided.text
    assert decided.headers["content-type"] == "application/problem+json"
    assert "erased" in decided.json()["detail"]

    noted = await triage.client.post(
        f"{path}/steps",
        headers=triage.token(roles=("desk",), subject="staff:desk-1"),
        json={"step": "contact_attempt_failed", "note": "Niet thuis"},
    )
    assert noted.status_code == 410, noted.text
    assert noted.headers["content-type"] == "application/problem+json"

    # what needs no personal data still works: a step without a note
    plain = await triage.client.post(
        f"{path}/steps",
        headers=triage.token(roles=("desk",), subject="staff:desk-1"),
        json={"step": "contact_attempt_failed"},
    )
    assert plain.status_code == 200, plain.text


async def _announce_erasure(triage: RunningTriage, signal_id: UUID, subject_id: UUID) -> None:
    erased = SignalErasedV1(
        erasure_id=uuid4(),
        signal_id=signal_id,
        scope=ErasureScope.PERSON,
        subject_id=subject_id,
        reason=ErasureReason.DATA_SUBJECT_REQUEST,
        erased_at=datetime.now(UTC),
    )
    envelope = Envelope.new(erased, municipality="GM0715", producer="intake")
    producer = make_producer(triage.infra.kafka_bootstrap, client_id="triage-erasure-tests")
    await producer.start()
    try:
        await producer.send_and_wait(
            triage.topics.erased.name,
            value=envelope.model_dump_json().encode(),
            key=str(signal_id).encode(),
        )
    finally:
        await producer.stop()


async def _rows(triage: RunningTriage, signal_id: UUID) -> int:
    conn = await asyncpg.connect(triage.database_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT (SELECT count(*) FROM triage.cases WHERE signal_id = $1)"
                " + (SELECT count(*) FROM triage.decisions WHERE signal_id = $1)"
                " + (SELECT count(*) FROM triage.steps WHERE signal_id = $1)",
                signal_id,
            )
        )
    finally:
        await conn.close()


async def test_an_erased_persons_case_goes_with_its_reasons_and_notes(
    triage: RunningTriage,
) -> None:
    sent = await triage.send("Woont alleen sinds het overlijden van haar man")
    signal_id = sent.data.signal_id
    await triage.case(signal_id)
    path = f"/v1/triage/signals/{signal_id}"
    changed = await triage.client.post(
        f"{path}/decisions", headers=triage.token(), json={"priority": "high", "reason": "belde"}
    )
    assert changed.status_code == 200
    noted = await triage.client.post(
        f"{path}/steps",
        headers=triage.token(),
        json={"step": "contact_attempt_failed", "note": "Niet thuis"},
    )
    assert noted.status_code == 200
    assert await _rows(triage, signal_id) > 0

    await triage.vault.erase(sent.data.subject_id, reason="data_subject_request")
    await _announce_erasure(triage, signal_id, sent.data.subject_id)
    for _ in range(200):
        if await _rows(triage, signal_id) == 0:
            break
        await asyncio.sleep(0.1)
    assert await _rows(triage, signal_id) == 0
    gone = await triage.client.get(path, headers=triage.token())
    assert gone.status_code == 404

    # erased before its received event arrived: it never becomes a case
    late = SignalReceivedV1.model_validate(
        sent.data.model_dump() | {"signal_id": uuid4(), "subject_id": uuid4()}
    )
    await _announce_erasure(triage, late.signal_id, late.subject_id)
    await asyncio.sleep(1.0)
    await triage.send(envelope=Envelope.new(late, municipality="GM0715", producer="intake"))
    probe = await triage.send("Een ander")
    await triage.case(probe.data.signal_id)  # the consumer got past the late one
    assert await _rows(triage, late.signal_id) == 0


async def test_tombstones_of_erased_signals_go_after_730_days(triage: RunningTriage) -> None:
    await expire_as_intake_does(triage.database_url, "triage")
