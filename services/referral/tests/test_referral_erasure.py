"""A person erased (signals.erased.v1): referral forgets their help question and referrals, the
organisation hears the referral was withdrawn, a place it held comes back (issue 17)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
from referral_harness import RunningReferral
from signaalpunt_contracts import (
    Envelope,
    ErasureReason,
    ErasureScope,
    ReferralStatus,
    ReferralUpdatedV1,
    SignalErasedV1,
)
from signaalpunt_testkit.tombstones import expire_as_intake_does
from test_referral_flow import import_map, one_service_map


async def _erase(referral: RunningReferral, signal_id: UUID, subject_id: UUID) -> None:
    await referral.vault.erase(subject_id, reason="data_subject_request")
    erased = SignalErasedV1(
        erasure_id=uuid4(),
        signal_id=signal_id,
        scope=ErasureScope.PERSON,
        subject_id=subject_id,
        reason=ErasureReason.DATA_SUBJECT_REQUEST,
        erased_at=datetime.now(UTC),
    )
    envelope = Envelope.new(erased, municipality="GM0715", producer="intake")
    await referral.publish(referral.topics.erased, envelope, str(signal_id))


async def _rows(referral: RunningReferral, signal_id: UUID) -> int:
    settings = referral.referrals.service.settings
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        return int(
            await conn.fetchval(
                "SELECT (SELECT count(*) FROM referral.help_questions WHERE signal_id = $1)"
                " + (SELECT count(*) FROM referral.referrals WHERE signal_id = $1)"
                " + (SELECT count(*) FROM referral.referral_history h JOIN referral.referrals r"
                "    USING (referral_id) WHERE r.signal_id = $1)"
                " + (SELECT count(*) FROM referral.gaps WHERE signal_id = $1)",
                signal_id,
            )
        )
    finally:
        await conn.close()


async def _gone(referral: RunningReferral, signal_id: UUID) -> None:
    for _ in range(300):
        if await _rows(referral, signal_id) == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"referral still holds rows of erased signal {signal_id}")


async def test_an_erased_persons_referrals_go_and_the_organisation_hears_it(
    referral: RunningReferral,
) -> None:
    document = one_service_map("Maatje na verlies", "grief_support", 3)
    await import_map(referral, document)
    coordinator = referral.staff("coordinator")
    sent = await referral.help_question(
        needs=("grief_support", "carer_relief"),  # carer_relief: a gap on this map
        text="Mevrouw Planta-Erasure mist haar man",
    )
    signal_id, subject_id = sent.data.signal_id, sent.data.subject_id
    assert subject_id is not None
    body = await referral.proposals(signal_id)
    rid = body["referrals"][0]["referral_id"]
    team = referral.staff()
    shipped = await referral.client.post(f"/v1/referral/referrals/{rid}/send", headers=team)
    assert shipped.status_code == 200, shipped.text
    org = referral.organisation(document[0]["id"])
    accepted = await referral.client.post(
        f"/v1/referral/inbox/{rid}", headers=org, json={"status": "accepted"}
    )
    assert accepted.status_code == 200, accepted.text
    services = await referral.client.get("/v1/referral/map/services", headers=coordinator)
    places = {s["name"]: s["open_places"] for s in services.json()}
    assert places["Maatje na verlies"] == 2
    gaps_before = await referral.client.get("/v1/referral/gaps", headers=coordinator)
    assert await _rows(referral, signal_id) > 0

    await _erase(referral, signal_id, subject_id)
    await _gone(referral, signal_id)

    assert (
        await referral.client.get(f"/v1/referral/signals/{signal_id}", headers=team)
    ).status_code == 404
    inbox = await referral.client.get("/v1/referral/inbox", headers=org)
    assert rid not in {item["referral_id"] for item in inbox.json()}
    answered = await referral.client.post(
        f"/v1/referral/inbox/{rid}", headers=org, json={"status": "in_progress"}
    )
    assert answered.status_code == 404
    services = await referral.client.get("/v1/referral/map/services", headers=coordinator)
    places = {s["name"]: s["open_places"] for s in services.json()}
    assert places["Maatje na verlies"] == 3  # the place held for the person is free again
    withdrawn = [
        e
        for e in await referral.about(
            referral.topics.referrals, ReferralUpdatedV1, signal_id, count=3
        )
        if e.status is ReferralStatus.WITHDRAWN
    ]
    assert [(e.changed_by, e.previous_status, e.note) for e in withdrawn] == [
        ("erasure", ReferralStatus.ACCEPTED, None)
    ]
    # the gap report counts the same, linked to nobody
    gaps_after = await referral.client.get("/v1/referral/gaps", headers=coordinator)
    assert gaps_after.json() == gaps_before.json()


async def test_a_help_question_after_its_erasure_is_not_kept(referral: RunningReferral) -> None:
    await import_map(referral, one_service_map("Wandelclub", "buddy", 5))
    late = await referral.help_question(needs=("buddy",), text="Meneer Laat-Erasure")
    signal_id, subject_id = late.data.signal_id, late.data.subject_id
    assert subject_id is not None
    await referral.proposals(signal_id)
    await _erase(referral, signal_id, subject_id)
    await _gone(referral, signal_id)
    # the step again after the erasure (a redelivery; the topics are not ordered among each
    # other): it must not bring the person back
    await referral.publish(referral.topics.steps, late, str(signal_id))
    probe = await referral.help_question(needs=("buddy",))
    await referral.proposals(probe.data.signal_id)  # the consumer got past the late one
    await asyncio.sleep(1.0)
    assert await _rows(referral, signal_id) == 0


async def test_tombstones_of_erased_signals_go_after_730_days(referral: RunningReferral) -> None:
    settings = referral.referrals.service.settings
    await expire_as_intake_does(settings.database_url.get_secret_value(), "referral")
