"""Intake follows the case from cases.steps.v1 in batches (issue 22), on the real Kafka and
PostgreSQL: every signal ends at its last step's status, in order, and one undecodable step is
parked alone with its reason while its batch-mates are applied."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
from intake_harness import RunningIntake
from signaalpunt_contracts import CaseStepRecordedV1, Envelope
from signaalpunt_runtime.broker_factory import make_producer
from signaalpunt_runtime.dead_letters import list_dead_letters

WEB_FORM = {
    "channel": "web_form",
    "reporter": {"kind": "relative_or_neighbour", "may_contact": False},
    "subject": {"birth_year": 1941, "postcode": "4531 AB", "knows_of_signal": False},
    "concern": {"text": "Woont alleen en krijgt weinig bezoek.", "cues": ["lives_alone"]},
}


def step(signal_id: UUID, state: str, previous: str, name: str, **extra: str) -> bytes:
    data = CaseStepRecordedV1.model_validate(
        {
            "signal_id": str(signal_id),
            "step": name,
            "previous_state": previous,
            "state": state,
            "route": "team_eenzaamheid",
            "recorded_by": "staff:desk-1",
            "received_at": datetime.now(UTC).isoformat(),
            "recorded_at": datetime.now(UTC).isoformat(),
            **extra,
        }
    )
    return Envelope.new(data, municipality="GM0715", producer="triage").model_dump_json().encode()


async def test_steps_in_batches_end_each_case_at_its_last_step_and_park_a_bad_one_alone(
    intake: RunningIntake,
) -> None:
    signals = []
    for _ in range(8):
        answer = await intake.client.post("/v1/signals", json=WEB_FORM)
        assert answer.status_code == 202
        signals.append(UUID(answer.json()["signal_id"]))
    bad = json.dumps({"not": "a case step", "test": str(uuid4())}).encode()
    messages: list[tuple[bytes, bytes]] = []
    for i, signal_id in enumerate(signals):
        key = str(signal_id).encode()
        messages.append((key, step(signal_id, "triaged", "received", "triaged")))
        if i == 3:
            messages.append((key, bad))
        if i % 2 == 0:
            closed = step(signal_id, "closed", "triaged", "closed", close_reason="support_arranged")
            messages.append((key, closed))
    producer = make_producer(intake.infra.kafka_bootstrap, client_id="intake-steps-test")
    await producer.start()
    try:
        sends = [
            await producer.send(intake.case_steps.name, value=value, key=key)
            for key, value in messages
        ]
        for sent in sends:
            await sent
    finally:
        await producer.stop()

    wanted = {s: "handled" if i % 2 == 0 else "being_handled" for i, s in enumerate(signals)}
    conn = await asyncpg.connect(intake.database_url)
    try:
        for _ in range(300):
            rows = await conn.fetch(
                "SELECT signal_id, handling FROM intake.signals WHERE signal_id = ANY($1)", signals
            )
            if {r["signal_id"]: r["handling"] for r in rows} == wanted:
                break
            await asyncio.sleep(0.1)
        assert {r["signal_id"]: r["handling"] for r in rows} == wanted
    finally:
        await conn.close()
    letters = [
        letter
        for letter in await list_dead_letters(
            intake.infra.kafka_bootstrap, intake.case_steps.dead_letter_topic("intake")
        )
        if letter.value == bad
    ]
    assert len(letters) == 1
    assert "ValidationError" in letters[0].error
