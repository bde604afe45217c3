"""Referral closes its part of the case: when a referral (or a volunteer match) is completed, the
proposals nobody sent for the needs it met are withdrawn, and a proposal for a need still open
stays for the team. On the real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from referral_harness import RunningReferral
from signaalpunt_contracts import (
    Envelope,
    MatchEndReason,
    MatchRequestedV1,
    MatchStatus,
    MatchUpdatedV1,
    Need,
    ReferralStatus,
)
from signaalpunt_referral.lifecycle import superseded
from test_referral_flow import import_map, one_service_map

S = ReferralStatus
GRIEF, DAYTIME, BUDDY = Need.GRIEF_SUPPORT, Need.DAYTIME_ACTIVITY, Need.BUDDY


def test_only_unsent_proposals_for_met_needs_are_superseded() -> None:
    met = frozenset({GRIEF})
    assert superseded([GRIEF], S.PROPOSED, met)
    assert not superseded([GRIEF, DAYTIME], S.PROPOSED, met)  # daytime is still open
    assert not superseded([DAYTIME], S.PROPOSED, met)
    assert not superseded([GRIEF], S.SENT, met)  # the organisation has it: the team decides
    assert not superseded([GRIEF], S.ACCEPTED, met)
    assert not superseded([], S.PROPOSED, met)


async def statuses(
    referral: RunningReferral, signal_id: UUID, want: dict[str, str]
) -> dict[str, str]:
    """The signal's referrals by service name once they have the wanted statuses."""
    seen: dict[str, str] = {}
    for _ in range(300):
        body = await referral.proposals(signal_id, count=1)
        seen = {r["service_name"]: r["status"] for r in body["referrals"]}
        if all(seen.get(name) == status for name, status in want.items()):
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"not {want}: {seen}")


async def complete(referral: RunningReferral, row: dict[str, Any]) -> None:
    sent = await referral.client.post(
        f"/v1/referral/referrals/{row['referral_id']}/send", headers=referral.staff()
    )
    assert sent.status_code == 200, sent.text
    org = referral.organisation(row["organisation_id"])
    for status in ("accepted", "in_progress", "completed"):
        step = await referral.client.post(
            f"/v1/referral/inbox/{row['referral_id']}", headers=org, json={"status": status}
        )
        assert step.status_code == 200, step.text


async def test_a_completed_referral_withdraws_the_proposals_for_the_need_it_met(
    referral: RunningReferral,
) -> None:
    await import_map(
        referral,
        [
            *one_service_map("Rouwgroep A", "grief_support", 3),
            *one_service_map("Rouwgroep B", "grief_support", 3),
            *one_service_map("Samen eten", "daytime_activity", 3),
        ],
    )
    step = await referral.help_question(needs=("grief_support", "daytime_activity"))
    signal_id = step.data.signal_id
    body = await referral.proposals(signal_id, count=3)
    by_name = {r["service_name"]: r for r in body["referrals"]}
    await complete(referral, by_name["Rouwgroep A"])
    seen = await statuses(
        referral, signal_id, {"Rouwgroep A": "completed", "Rouwgroep B": "withdrawn"}
    )
    assert seen["Samen eten"] == "proposed"  # the daytime need is still open


async def test_a_completed_volunteer_match_withdraws_the_buddy_proposals(
    referral: RunningReferral,
) -> None:
    await import_map(
        referral,
        [
            *one_service_map("Maatjesproject", "buddy", 3),
            *one_service_map("Rouwgroep C", "grief_support", 3),
        ],
    )
    step = await referral.help_question(needs=("buddy", "grief_support"))
    signal_id = step.data.signal_id
    await referral.proposals(signal_id, count=2)
    (request,) = await referral.about(referral.topics.matches, MatchRequestedV1, signal_id)
    for status, version, reason in (
        (MatchStatus.PROPOSED, 1, None),
        (MatchStatus.ACCEPTED, 2, None),
        (MatchStatus.ACTIVE, 3, None),
        (MatchStatus.ENDED, 4, MatchEndReason.COMPLETED),
    ):
        data = MatchUpdatedV1(
            match_request_id=request.match_request_id,
            match_id=request.match_request_id,
            signal_id=signal_id,
            subject_id=request.subject_id,
            status=status,
            version=version,
            attempt=1,
            needs=request.needs,
            end_reason=reason,
            changed_by="matching",
            changed_at=datetime.now(UTC),
        )
        envelope = Envelope.new(data, municipality="GM0715", producer="matching")
        await referral.publish(referral.topics.outcomes, envelope, str(signal_id))
    seen = await statuses(referral, signal_id, {"Maatjesproject": "withdrawn"})
    assert seen["Rouwgroep C"] == "proposed"
