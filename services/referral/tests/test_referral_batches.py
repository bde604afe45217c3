"""Case steps in batches (issue 22): every step of every signal reaches referral, only help
questions concern it; a burst is handled in a few transactions and each help question still
gets its proposals once, with a bad message parked alone."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from uuid import UUID

from referral_harness import RunningReferral
from signaalpunt_contracts import (
    CaseState,
    CaseStep,
    CaseStepRecordedV1,
    Envelope,
    ReferralStatus,
    ReferralUpdatedV1,
)
from signaalpunt_runtime.broker_factory import make_producer
from signaalpunt_runtime.dead_letters import list_dead_letters
from test_referral_flow import import_map, one_service_map


async def _burst(referral: RunningReferral, messages: list[tuple[bytes, bytes]]) -> None:
    """All messages with one producer, not waiting for each: the consumer finds them waiting
    together, as after triage's backlog or a restart."""
    producer = make_producer(referral.infra.kafka_bootstrap, client_id="referral-burst")
    await producer.start()
    try:
        sent = [
            await producer.send(referral.topics.steps.name, value, key=key)
            for key, value in messages
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def _message(event: Envelope[CaseStepRecordedV1]) -> tuple[bytes, bytes]:
    return str(event.data.signal_id).encode(), event.model_dump_json().encode()


async def test_a_burst_of_steps_refers_each_help_question_once_and_parks_a_bad_one(
    referral: RunningReferral,
) -> None:
    await import_map(referral, one_service_map("Taalcafé B", "language", 500))
    questions = [
        await referral.help_question(needs=("language",), publish=False) for _ in range(24)
    ]
    # what triage sends before a help question: steps that are not referral's business
    triaged = [
        Envelope.new(
            q.data.model_copy(
                update={
                    "step": CaseStep.TRIAGED,
                    "previous_state": CaseState.RECEIVED,
                    "state": CaseState.TRIAGED,
                    "help_question": None,
                }
            ),
            municipality="GM0715",
            producer="triage",
        )
        for q in questions
    ]
    bad = json.dumps({"step": "help_question_recorded", "not": "an envelope"}).encode()
    burst = [_message(t) for t in triaged]
    # every help question twice in a row (a redelivery inside the same batch), the bad one midway
    burst += [m for q in questions[:12] for m in (_message(q), _message(q))]
    burst += [(b"not-a-step", bad)]
    burst += [m for q in questions[12:] for m in (_message(q), _message(q))]
    await _burst(referral, burst)

    wanted = {q.data.signal_id for q in questions}
    events = await referral.events(
        referral.topics.referrals,
        ReferralUpdatedV1,
        lambda es: wanted <= {e.data.signal_id for e in es},
        settle=3.0,
    )
    proposed: Counter[UUID] = Counter(
        e.data.signal_id
        for e in events
        if e.data.signal_id in wanted and e.data.status is ReferralStatus.PROPOSED
    )
    assert proposed == dict.fromkeys(wanted, 1), "one proposal per help question, once"
    for q in questions[::6]:
        body = await referral.proposals(q.data.signal_id)
        assert [r["service_name"] for r in body["referrals"]] == ["Taalcafé B"]

    letters = [
        letter
        for letter in await list_dead_letters(
            referral.infra.kafka_bootstrap, referral.topics.steps.dead_letter_topic("referral")
        )
        if letter.value == bad
    ]
    assert [letter.error.split(":")[0].rsplit(".", 1)[-1] for letter in letters] == [
        "ValidationError"
    ]
